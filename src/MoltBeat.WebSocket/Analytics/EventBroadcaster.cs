using MoltBeat.WebSocket.Rooms;

namespace MoltBeat.WebSocket.Analytics;

/// <summary>
/// One typed method per analytics event (the seed's <c>EventBroadcaster</c>). Each picks the rooms an
/// event belongs in, entity room included, and publishes it to all of them at once, so a dashboard on
/// <c>analytics:agents</c> and a page on <c>agent:123</c> each get it once.
/// </summary>
public sealed class EventBroadcaster
{
    /// <summary>Room for trending topics.</summary>
    public const string TrendingRoom = "analytics:trending";

    private readonly KeyedPublish _publish;

    /// <summary>
    /// Publishes through <paramref name="publish"/> (rooms, event name, payload), typically a server's
    /// <c>Broadcast</c>: <c>new EventBroadcaster(server.Broadcast)</c>. The vocabulary knows nothing of the
    /// server, so the same broadcaster can publish through anything with that shape (a queue, a test).
    /// Events go without their conflation keys; <see cref="WithKeys"/> keeps them.
    /// </summary>
    public EventBroadcaster(Action<IReadOnlyList<string>, string, object?> publish)
    {
        ArgumentNullException.ThrowIfNull(publish);
        _publish = (rooms, eventName, payload, _) => publish(rooms, eventName, payload);
    }

    private EventBroadcaster(KeyedPublish publish) => _publish = publish;

    /// <summary>Publishes one event: its rooms, name, payload and conflation key (protocol 1.1; null for none).</summary>
    public delegate void KeyedPublish(IReadOnlyList<string> rooms, string eventName, object? payload, string? key);

    /// <summary>
    /// A broadcaster that publishes each event with its conflation key (protocol 1.1), typically through a server's
    /// <c>Broadcast</c>: <c>EventBroadcaster.WithKeys(server.Broadcast)</c>. The keys: an agent's or a post's id, an
    /// alert's id, a trending topic, the metric names of a metrics update (comma-joined, sorted; none when longer than
    /// a key may be), <c>health</c> for system health. A subscriber with <c>maxRate</c>, or one that lags, then receives
    /// the newest of each instead of every one; maintenance notices have no key and always arrive.
    /// </summary>
    public static EventBroadcaster WithKeys(KeyedPublish publish) =>
        new(publish ?? throw new ArgumentNullException(nameof(publish)));

    /// <summary><c>agent:created</c> to <c>analytics:agents</c> and <c>agent:&lt;id&gt;</c>.</summary>
    public void AgentCreated(AgentPayload agent) => Agent(AnalyticsEvent.AgentCreated, agent?.Id, agent);

    /// <summary><c>agent:updated</c> to <c>analytics:agents</c> and <c>agent:&lt;id&gt;</c>.</summary>
    public void AgentUpdated(AgentPayload agent) => Agent(AnalyticsEvent.AgentUpdated, agent?.Id, agent);

    /// <summary><c>agent:deleted</c> to <c>analytics:agents</c> and <c>agent:&lt;id&gt;</c>.</summary>
    public void AgentDeleted(AgentPayload agent) => Agent(AnalyticsEvent.AgentDeleted, agent?.Id, agent);

    /// <summary><c>agent:status_changed</c> to <c>analytics:agents</c> and <c>agent:&lt;id&gt;</c>.</summary>
    public void AgentStatusChanged(AgentStatusChangedPayload change) => Agent(AnalyticsEvent.AgentStatusChanged, change?.Id, change);

    /// <summary><c>post:created</c> to <c>analytics:posts</c> and <c>post:&lt;id&gt;</c>.</summary>
    public void PostCreated(PostPayload post) => Post(AnalyticsEvent.PostCreated, post?.Id, post);

    /// <summary><c>post:updated</c> to <c>analytics:posts</c> and <c>post:&lt;id&gt;</c>.</summary>
    public void PostUpdated(PostPayload post) => Post(AnalyticsEvent.PostUpdated, post?.Id, post);

    /// <summary><c>post:liked</c> to <c>analytics:posts</c> and <c>post:&lt;id&gt;</c>.</summary>
    public void PostLiked(PostLikedPayload like) => Post(AnalyticsEvent.PostLiked, like?.Id, like);

    /// <summary><c>post:commented</c> to <c>analytics:posts</c> and <c>post:&lt;id&gt;</c>.</summary>
    public void PostCommented(PostCommentedPayload comment) => Post(AnalyticsEvent.PostCommented, comment?.Id, comment);

    /// <summary><c>metrics:updated</c> to <c>analytics:metrics</c>.</summary>
    public void MetricsUpdated(MetricsPayload metrics) => Publish([WSRoom.MetricsOverview], AnalyticsEvent.MetricsUpdated, metrics, MetricsKey(metrics));

    /// <summary><c>trending:added</c> to <c>analytics:trending</c>.</summary>
    public void TrendingTopicAdded(TrendingTopicPayload topic) => Publish([TrendingRoom], AnalyticsEvent.TrendingTopicAdded, topic, KeyOrNone(topic?.Topic));

    /// <summary><c>alert:created</c> to <c>alerts</c> (or <c>alerts:critical</c>, which reaches <c>alerts</c> too) and <c>alert:&lt;id&gt;</c>.</summary>
    public void AlertCreated(AlertPayload alert) => Alert(AnalyticsEvent.AlertCreated, alert);

    /// <summary><c>alert:resolved</c>, routed like <see cref="AlertCreated"/>.</summary>
    public void AlertResolved(AlertPayload alert) => Alert(AnalyticsEvent.AlertResolved, alert);

    /// <summary><c>system:health</c> to <c>system</c>.</summary>
    public void SystemHealth(SystemHealthPayload health) => Publish([WSRoom.System], AnalyticsEvent.SystemHealthUpdate, health, "health");

    /// <summary><c>system:maintenance_start</c> to <c>system</c>.</summary>
    public void SystemMaintenanceStart(SystemMaintenancePayload maintenance) => Publish([WSRoom.System], AnalyticsEvent.SystemMaintenanceStart, maintenance);

    private void Agent(string eventName, string? id, object? payload) =>
        Publish([WSRoom.AgentsOverview, WSRoom.CreateEntityRoom("agent", Required(id))], eventName, payload, KeyOrNone(id));

    private void Post(string eventName, string? id, object? payload) =>
        Publish([WSRoom.PostsOverview, WSRoom.CreateEntityRoom("post", Required(id))], eventName, payload, KeyOrNone(id));

    private void Alert(string eventName, AlertPayload alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var room = string.Equals(alert.Severity, "critical", StringComparison.OrdinalIgnoreCase) ? WSRoom.CriticalAlerts : WSRoom.Alerts;
        Publish([room, WSRoom.CreateEntityRoom("alert", Required(alert.Id))], eventName, alert, KeyOrNone(alert.Id));
    }

    private void Publish(string[] rooms, string eventName, object? payload, string? key = null)
    {
        ArgumentNullException.ThrowIfNull(payload);
        _publish(rooms, eventName, payload, key);
    }

    /// <summary>The names of the metrics updated: a newer update of the same metrics replaces an older one that waits.</summary>
    private static string? MetricsKey(MetricsPayload? metrics) =>
        metrics?.Metrics is { Count: > 0 } values ? KeyOrNone(string.Join(',', values.Keys.Order(StringComparer.Ordinal))) : null;

    /// <summary>A value as a conflation key when it can be one (1 to 128 characters), else none: the event is then never conflated.</summary>
    private static string? KeyOrNone(string? value) =>
        value is { Length: > 0 and <= Protocol.ProtocolLimits.MaxKeyLength } ? value : null;

    private static string Required(string? id) =>
        string.IsNullOrEmpty(id) ? throw new ArgumentException("The payload needs an Id.", nameof(id)) : id;
}
