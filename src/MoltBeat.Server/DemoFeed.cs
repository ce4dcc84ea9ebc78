using MoltBeat.WebSocket.Analytics;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>
/// Feeds realistic MoltBeat analytics through <see cref="EventBroadcaster"/> so that a new user sees
/// the product working: agents appearing and changing status, posts liked and commented, metrics,
/// trending topics, alerts raised and resolved, system health.
/// </summary>
internal sealed partial class DemoFeed(MoltBeatWSServer server, ServerSettings settings, ILogger<DemoFeed> logger) : BackgroundService
{
    private static readonly string[] Names = ["Agent Smith", "Nova", "Orion", "Vega", "Atlas", "Lyra", "Echo", "Sage"];
    private static readonly string[] Statuses = ["ACTIVE", "IDLE", "BUSY", "OFFLINE"];
    private static readonly string[] Topics = ["#ai-agents", "#realtime", "#dotnet", "#observability", "#launch"];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var broadcaster = new EventBroadcaster(server);
        var random = new Random();
        var period = TimeSpan.FromSeconds(1 / settings.DemoRate);
        using var timer = new PeriodicTimer(period);
        LogStarted(logger, settings.DemoRate);
        long n = 0;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var agent = random.Next(1, 50).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var post = random.Next(1, 500).ToString(System.Globalization.CultureInfo.InvariantCulture);
            switch (n++ % 10)
            {
                case 0:
                    broadcaster.AgentCreated(new AgentPayload(agent, Names[random.Next(Names.Length)], "ACTIVE", now));
                    break;
                case 1:
                    broadcaster.AgentStatusChanged(new AgentStatusChangedPayload(agent, Statuses[random.Next(Statuses.Length)], "ACTIVE", now));
                    break;
                case 2:
                case 3:
                    broadcaster.PostLiked(new PostLikedPayload(post, agent, random.Next(1, 1000), now));
                    break;
                case 4:
                    broadcaster.PostCommented(new PostCommentedPayload(post, agent, Guid.NewGuid().ToString("N")[..8], random.Next(1, 100), now));
                    break;
                case 5:
                    broadcaster.MetricsUpdated(new MetricsPayload(new Dictionary<string, double>
                    {
                        ["activeAgents"] = random.Next(20, 50),
                        ["postsPerMinute"] = Math.Round(random.NextDouble() * 120, 1),
                        ["engagementRate"] = Math.Round(random.NextDouble(), 3),
                    }, now));
                    break;
                case 6:
                    broadcaster.PostCreated(new PostPayload(post, agent, "Post " + post, now));
                    break;
                case 7:
                    broadcaster.TrendingTopicAdded(new TrendingTopicPayload(Topics[random.Next(Topics.Length)], Math.Round(random.NextDouble() * 100, 1), now));
                    break;
                case 8:
                    var alertId = random.Next(1, 20).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (random.Next(2) == 0)
                        broadcaster.AlertCreated(new AlertPayload(alertId, random.Next(4) == 0 ? "critical" : "warning", "Engagement dropped on agent " + agent, now));
                    else
                        broadcaster.AlertResolved(new AlertPayload(alertId, "warning", "Recovered", now));
                    break;
                default:
                    broadcaster.SystemHealth(new SystemHealthPayload("healthy", [new ServiceStatus("database", "up"), new ServiceStatus("cache", "up")], now));
                    break;
            }
        }
    }

    [LoggerMessage(100, LogLevel.Information, "Demo feed started: {Rate} events/s")]
    private static partial void LogStarted(ILogger logger, double rate);
}
