using System.Globalization;
using System.Text.Json;
using MoltBeat.WebSocket.Analytics;

namespace MoltBeat.Bench.Harness;

/// <summary>The event payloads of the permessage-deflate figures: the demo feed's events, and 2 KB metrics payloads.</summary>
internal static class CompressionPayloads
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
    private static readonly string[] Names = ["Agent Smith", "Nova", "Orion", "Vega", "Atlas", "Lyra", "Echo", "Sage", "Juno", "Kepler", "Mira", "Rigel"];
    private static readonly string[] Statuses = ["ACTIVE", "IDLE", "BUSY", "OFFLINE"];
    private static readonly string[] Topics = ["#ai-agents", "#realtime", "#dotnet", "#observability", "#launch", "#websockets", "#analytics"];
    private static readonly string[] Titles = ["Shipping live dashboards", "What our agents learned today", "Fan-out at scale", "Weekly engagement report", "Trending now", "A quiet hour"];
    private static readonly string[] Services = ["api", "database", "cache", "queue"];

    /// <summary>
    /// <paramref name="count"/> events in the demo feed's mix and shapes (src/MoltBeat.Server/DemoFeed.cs: likes, comments,
    /// posts, status changes, new agents, trending topics, alerts, health, a metrics snapshot now and then), made through
    /// the same <see cref="EventBroadcaster"/>; the same sequence every run.
    /// </summary>
    public static List<(string Event, JsonElement Data)> DemoFeed(int count)
    {
        var random = new Random(21);
        var events = new List<(string, JsonElement)>();
        var broadcaster = EventBroadcaster.WithKeys((_, name, payload, _) => events.Add((name, JsonSerializer.SerializeToElement(payload, Web))));
        var now = 1_796_000_000_000L;
        string Id(int max) => random.Next(1, max).ToString(CultureInfo.InvariantCulture);
        while (events.Count < count)
        {
            now += random.Next(50, 400);
            var roll = random.Next(100);
            if (events.Count % 50 == 49)
            {
                broadcaster.MetricsUpdated(new MetricsPayload(new Dictionary<string, double>
                {
                    ["activeAgents"] = random.Next(5, 40),
                    ["totalAgents"] = random.Next(40, 50),
                    ["postsPerMinute"] = random.Next(0, 300),
                    ["engagementsPerMinute"] = random.Next(0, 900),
                    ["engagementRate"] = Math.Round(random.NextDouble(), 3),
                    ["openAlerts"] = random.Next(0, 6),
                    ["connectedClients"] = random.Next(1, 2000),
                }, now));
            }
            else if (roll < 35)
                broadcaster.PostLiked(new PostLikedPayload(Id(200), Id(50), random.Next(1, 500), now));
            else if (roll < 50)
                broadcaster.PostCommented(new PostCommentedPayload(Id(200), Id(50), Guid.NewGuid().ToString("N")[..8], random.Next(1, 80), now));
            else if (roll < 65)
                broadcaster.PostCreated(new PostPayload(Id(5000), Id(50), Titles[random.Next(Titles.Length)], now));
            else if (roll < 77)
                broadcaster.AgentStatusChanged(new AgentStatusChangedPayload(Id(50), Statuses[random.Next(4)], Statuses[random.Next(4)], now));
            else if (roll < 82)
            {
                var id = Id(500);
                broadcaster.AgentCreated(new AgentPayload(id, Names[random.Next(Names.Length)] + " " + id, "ACTIVE", now));
            }
            else if (roll < 90)
                broadcaster.TrendingTopicAdded(new TrendingTopicPayload(Topics[random.Next(Topics.Length)], Math.Round(random.NextDouble() * 100, 1), now));
            else if (roll < 96)
                broadcaster.AlertCreated(new AlertPayload(Id(900), "warning", $"Engagement on post {Id(200)} dropped {random.Next(20, 60)}% in 5 minutes", now));
            else
            {
                var degraded = random.Next(10) == 0 ? Services[random.Next(Services.Length)] : null;
                broadcaster.SystemHealth(new SystemHealthPayload(degraded is null ? "healthy" : "degraded", [.. Services.Select(s => new ServiceStatus(s, s == degraded ? "degraded" : "up"))], now));
            }
        }
        return events;
    }

    /// <summary>
    /// <paramref name="count"/> metrics snapshots of about 2 KB each: 60 named gauges of a fleet (repeated name parts, values
    /// that change every event), as a dashboard's per-second update carries them.
    /// </summary>
    public static List<(string Event, JsonElement Data)> Metrics2K(int count)
    {
        var random = new Random(2048);
        string[] gauges = ["cpuPercent", "memoryMb", "latencyP50Ms", "latencyP99Ms", "requestsPerSecond", "errorsPerMinute"];
        var events = new List<(string, JsonElement)>();
        for (var i = 0; i < count; i++)
        {
            var metrics = new Dictionary<string, double>();
            for (var node = 0; node < 10; node++)
            {
                foreach (var gauge in gauges)
                    metrics[$"node{node:00}.{gauge}"] = Math.Round(random.NextDouble() * 1000, 2);
            }
            events.Add(("metrics:updated", JsonSerializer.SerializeToElement(new MetricsPayload(metrics, 1_796_000_000_000L + i * 1000), Web)));
        }
        return events;
    }
}
