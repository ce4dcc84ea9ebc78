namespace MoltBeat.WebSocket.Rooms;

/// <summary>
/// The predefined rooms of protocol v1 (the seed's <c>WSRoom</c> enum) and entity-room helpers.
/// Rooms are hierarchical: an event published to <c>analytics:agents</c> also reaches
/// <c>analytics</c> and <c>all</c>.
/// </summary>
public static class WSRoom
{
    /// <summary><c>all</c>: every published event.</summary>
    public const string AllEvents = "all";

    /// <summary><c>system</c>: system events (health, maintenance).</summary>
    public const string System = "system";

    /// <summary><c>analytics</c>: every analytics event.</summary>
    public const string Analytics = "analytics";

    /// <summary><c>analytics:agents</c>: agent events.</summary>
    public const string AgentsOverview = "analytics:agents";

    /// <summary><c>analytics:posts</c>: post events.</summary>
    public const string PostsOverview = "analytics:posts";

    /// <summary><c>analytics:metrics</c>: metrics.</summary>
    public const string MetricsOverview = "analytics:metrics";

    /// <summary><c>alerts</c>: every alert.</summary>
    public const string Alerts = "alerts";

    /// <summary><c>alerts:critical</c>: critical alerts only.</summary>
    public const string CriticalAlerts = "alerts:critical";

    /// <summary>All eight predefined rooms.</summary>
    public static IReadOnlyList<string> Predefined { get; } =
        [AllEvents, System, Analytics, AgentsOverview, PostsOverview, MetricsOverview, Alerts, CriticalAlerts];

    /// <summary>
    /// The room of one entity, <c>&lt;kind&gt;:&lt;id&gt;</c> (the seed's <c>createEntityRoom</c>):
    /// <c>CreateEntityRoom("agent", "123")</c> is <c>agent:123</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The result is not a valid room name.</exception>
    public static string CreateEntityRoom(string kind, string id)
    {
        var room = $"{kind}:{id}";
        if (!RoomName.IsValid(room))
            throw new ArgumentException($"'{room}' is not a valid room name: {RoomName.Rule}", nameof(id));
        return room;
    }
}
