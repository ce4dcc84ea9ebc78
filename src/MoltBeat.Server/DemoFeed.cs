using System.Diagnostics;
using System.Globalization;
using MoltBeat.WebSocket.Analytics;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>
/// Feeds realistic MoltBeat analytics through <see cref="EventBroadcaster"/> so that a new user sees
/// the product working: a population of agents that appear, change status and post; posts that are
/// liked and commented with growing counts; metrics derived from that activity; trending topics;
/// alerts raised and later resolved; system health. About <see cref="ServerSettings.DemoRate"/>
/// events per second, at irregular intervals like real traffic.
/// </summary>
internal sealed class DemoFeed(MoltBeatWSServer server, ServerSettings settings, ILogger<DemoFeed> logger) : BackgroundService
{
    private static readonly string[] Names = ["Agent Smith", "Nova", "Orion", "Vega", "Atlas", "Lyra", "Echo", "Sage", "Juno", "Kepler", "Mira", "Rigel"];
    private static readonly string[] Statuses = ["ACTIVE", "IDLE", "BUSY", "OFFLINE"];
    private static readonly string[] Topics = ["#ai-agents", "#realtime", "#dotnet", "#observability", "#launch", "#websockets", "#analytics"];
    private static readonly string[] Titles = ["Shipping live dashboards", "What our agents learned today", "Fan-out at scale", "Weekly engagement report", "Trending now", "A quiet hour"];
    private static readonly string[] Services = ["api", "database", "cache", "queue"];

    private readonly Random _random = new();
    private readonly Dictionary<string, string> _agents = new(StringComparer.Ordinal); // id → status
    private readonly Dictionary<string, (string Agent, int Likes, int Comments)> _posts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _openAlerts = new(StringComparer.Ordinal); // id → severity
    private readonly Dictionary<string, double> _topics = new(StringComparer.Ordinal);
    private int _nextAgent = 1, _nextPost = 1, _nextAlert = 1;
    private long _recentPosts, _recentEngagements;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var broadcaster = EventBroadcaster.WithKeys(server.Broadcast);
        logger.DemoFeedStarted(settings.DemoRate);
        for (var i = 0; i < 8; i++)
            NewAgent(broadcaster, Now());

        // Ticks of at most 50 ms; each tick emits what the rate owes since the last, so high rates work too.
        var tick = TimeSpan.FromSeconds(Math.Clamp(1 / settings.DemoRate, 0.01, 0.05));
        using var timer = new PeriodicTimer(tick);
        var clock = Stopwatch.StartNew();
        var owed = 0.0;
        var last = TimeSpan.Zero;
        var lastMetrics = TimeSpan.Zero;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = clock.Elapsed;
            // Irregular like real traffic: each tick owes rate × elapsed × a random factor (mean 1).
            owed += settings.DemoRate * (now - last).TotalSeconds * (0.5 + _random.NextDouble());
            last = now;
            var burst = (int)Math.Min(owed, Math.Max(1, settings.DemoRate)); // never more than a second's worth at once
            owed -= burst;
            for (var i = 0; i < burst; i++)
            {
                try
                {
                    Emit(broadcaster, Now());
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or MoltBeat.WebSocket.Engine.EngineUnavailableException)
                {
                    logger.DemoFeedFailed(ex);
                }
            }
            if (now - lastMetrics >= TimeSpan.FromSeconds(1))
            {
                lastMetrics = now;
                Metrics(broadcaster, Now());
            }
        }
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static string Id(int n) => n.ToString(CultureInfo.InvariantCulture);

    private void Emit(EventBroadcaster broadcaster, long now)
    {
        // Weighted like a busy social platform: mostly engagement, some posts, few agent and alert changes.
        var roll = _random.Next(100);
        if (roll < 35 && _posts.Count > 0)
            Like(broadcaster, now);
        else if (roll < 50 && _posts.Count > 0)
            Comment(broadcaster, now);
        else if (roll < 65)
            NewPost(broadcaster, now);
        else if (roll < 77)
            ChangeStatus(broadcaster, now);
        else if (roll < 82)
            NewAgent(broadcaster, now);
        else if (roll < 90)
            Trending(broadcaster, now);
        else if (roll < 96)
            Alert(broadcaster, now);
        else
            Health(broadcaster, now);
    }

    private void NewAgent(EventBroadcaster broadcaster, long now)
    {
        var id = Id(_nextAgent++);
        if (_agents.Count >= 50)
        {
            var gone = _agents.Keys.First();
            _agents.Remove(gone);
            broadcaster.AgentDeleted(new AgentPayload(gone, "", "OFFLINE", now));
        }
        _agents[id] = "ACTIVE";
        broadcaster.AgentCreated(new AgentPayload(id, Names[_random.Next(Names.Length)] + " " + id, "ACTIVE", now));
    }

    private void ChangeStatus(EventBroadcaster broadcaster, long now)
    {
        var id = RandomKey(_agents);
        var previous = _agents[id];
        var next = Statuses.Where(s => s != previous).ElementAt(_random.Next(Statuses.Length - 1));
        _agents[id] = next;
        broadcaster.AgentStatusChanged(new AgentStatusChangedPayload(id, next, previous, now));
    }

    private void NewPost(EventBroadcaster broadcaster, long now)
    {
        var id = Id(_nextPost++);
        var agent = RandomKey(_agents);
        if (_posts.Count >= 200)
            _posts.Remove(_posts.Keys.First());
        _posts[id] = (agent, 0, 0);
        _recentPosts++;
        broadcaster.PostCreated(new PostPayload(id, agent, Titles[_random.Next(Titles.Length)], now));
    }

    private void Like(EventBroadcaster broadcaster, long now)
    {
        var id = RandomKey(_posts);
        var post = _posts[id];
        _posts[id] = post with { Likes = post.Likes + 1 + _random.Next(3) };
        _recentEngagements++;
        broadcaster.PostLiked(new PostLikedPayload(id, RandomKey(_agents), _posts[id].Likes, now));
    }

    private void Comment(EventBroadcaster broadcaster, long now)
    {
        var id = RandomKey(_posts);
        var post = _posts[id];
        _posts[id] = post with { Comments = post.Comments + 1 };
        _recentEngagements++;
        broadcaster.PostCommented(new PostCommentedPayload(id, RandomKey(_agents), Guid.NewGuid().ToString("N")[..8], _posts[id].Comments, now));
    }

    private void Trending(EventBroadcaster broadcaster, long now)
    {
        var topic = Topics[_random.Next(Topics.Length)];
        var score = Math.Round(Math.Min(100, (_topics.GetValueOrDefault(topic) * 0.8) + (_random.NextDouble() * 40)), 1);
        _topics[topic] = score;
        broadcaster.TrendingTopicAdded(new TrendingTopicPayload(topic, score, now));
    }

    private void Alert(EventBroadcaster broadcaster, long now)
    {
        if (_openAlerts.Count > 0 && (_openAlerts.Count >= 5 || _random.Next(2) == 0))
        {
            var id = RandomKey(_openAlerts);
            var severity = _openAlerts[id];
            _openAlerts.Remove(id);
            broadcaster.AlertResolved(new AlertPayload(id, severity, "Resolved: back within thresholds", now));
            return;
        }
        var alert = Id(_nextAlert++);
        var critical = _random.Next(5) == 0;
        _openAlerts[alert] = critical ? "critical" : "warning";
        var message = critical
            ? $"Agent {RandomKey(_agents)} stopped responding"
            : $"Engagement on post {(_posts.Count > 0 ? RandomKey(_posts) : "1")} dropped {_random.Next(20, 60)}% in 5 minutes";
        broadcaster.AlertCreated(new AlertPayload(alert, _openAlerts[alert], message, now));
    }

    private void Health(EventBroadcaster broadcaster, long now)
    {
        var degraded = _random.Next(10) == 0 ? Services[_random.Next(Services.Length)] : null;
        var services = Services.Select(s => new ServiceStatus(s, s == degraded ? "degraded" : "up")).ToList();
        broadcaster.SystemHealth(new SystemHealthPayload(degraded is null ? "healthy" : "degraded", services, now));
    }

    private void Metrics(EventBroadcaster broadcaster, long now)
    {
        var active = _agents.Values.Count(s => s is "ACTIVE" or "BUSY");
        broadcaster.MetricsUpdated(new MetricsPayload(new Dictionary<string, double>
        {
            ["activeAgents"] = active,
            ["totalAgents"] = _agents.Count,
            ["postsPerMinute"] = _recentPosts * 60,
            ["engagementsPerMinute"] = _recentEngagements * 60,
            ["engagementRate"] = _recentPosts == 0 ? 0 : Math.Round(_recentEngagements / (double)(_recentPosts + _recentEngagements), 3),
            ["openAlerts"] = _openAlerts.Count,
            ["connectedClients"] = server.GetStats().TotalClients,
        }, now));
        _recentPosts = 0;
        _recentEngagements = 0;
    }

    private string RandomKey<T>(Dictionary<string, T> map) => map.Count == 0 ? "1" : map.Keys.ElementAt(_random.Next(map.Count));
}
