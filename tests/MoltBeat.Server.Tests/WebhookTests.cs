using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoltBeat.Server.Tests.Infrastructure;
using MoltBeat.Server.Webhooks;

namespace MoltBeat.Server.Tests;

/// <summary>
/// The occupancy webhook sender against a real HTTP target (Kestrel on a loopback port): order and payload, retries,
/// what is not retried, a target that is down, a slow target, and disposal. Backoffs are milliseconds here.
/// </summary>
public sealed class WebhookTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 3, 20, 0, 0, TimeSpan.FromHours(2)); // 18:00 UTC

    private static OccupancyWebhookOptions Fast(Action<OccupancyWebhookOptions>? configure = null)
    {
        var options = new OccupancyWebhookOptions
        {
            InitialBackoff = TimeSpan.FromMilliseconds(10),
            MaxBackoff = TimeSpan.FromMilliseconds(50),
            Node = "test-node",
        };
        configure?.Invoke(options);
        return options;
    }

    private static RoomOccupancyNotice Notice(string room, RoomOccupancyKind kind = RoomOccupancyKind.Occupied) => new(kind, room, At);

    private static string Room(string body) => JsonDocument.Parse(body).RootElement.GetProperty("room").GetString()!;

    [Fact]
    public async Task Notices_arrive_in_order_as_json()
    {
        await using var target = await WebhookTarget.StartAsync();
        using var metrics = new Measurements();
        await using var webhook = new OccupancyWebhook(target.Url, Fast(), meterFactory: metrics.Factory);

        var notices = Enumerable.Range(0, 20)
            .Select(i => new RoomOccupancyNotice(i % 2 == 0 ? RoomOccupancyKind.Occupied : RoomOccupancyKind.Vacated,
                i == 0 ? "analytics" : $"analytics:room-{i}", At.AddMilliseconds(i * 1001)))
            .ToList();
        foreach (var notice in notices)
            Assert.True(webhook.TryEnqueue(notice));
        await WebhookTarget.EventuallyAsync(() => webhook.Delivered == 20, "20 notices delivered");

        var requests = target.Requests;
        Assert.Equal(20, requests.Count);
        Assert.Equal("""{"type":"room.occupied","room":"analytics","at":"2026-12-03T18:00:00.000Z","node":"test-node"}""", requests[0].Body);
        Assert.Equal("""{"type":"room.vacated","room":"analytics:room-1","at":"2026-12-03T18:00:01.001Z","node":"test-node"}""", requests[1].Body);
        for (var i = 0; i < notices.Count; i++)
        {
            Assert.Equal("application/json", requests[i].ContentType);
            var json = JsonDocument.Parse(requests[i].Body).RootElement;
            Assert.Equal(i % 2 == 0 ? "room.occupied" : "room.vacated", json.GetProperty("type").GetString());
            Assert.Equal(notices[i].Room, json.GetProperty("room").GetString());
            Assert.Equal(notices[i].At, DateTimeOffset.Parse(json.GetProperty("at").GetString()!, CultureInfo.InvariantCulture));
            Assert.Equal("test-node", json.GetProperty("node").GetString());
        }
        Assert.Equal((0, 0), (webhook.Dropped, webhook.Failed));
        Assert.Equal(20, metrics.Sum("moltbeat.webhook.delivered"));
        Assert.Equal(10, metrics.Sum("moltbeat.webhook.delivered", "room.vacated"));

        webhook.Node = "host-b:3001";
        Assert.True(webhook.TryEnqueue(Notice("later")));
        await WebhookTarget.EventuallyAsync(() => webhook.Delivered == 21, "the 21st notice delivered");
        Assert.Contains("\"node\":\"host-b:3001\"", target.Requests[^1].Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(503, 503)]
    [InlineData(429, 500)]
    public async Task Retryable_statuses_are_retried_and_the_notice_arrives_once_then_the_next(int first, int second)
    {
        await using var target = await WebhookTarget.StartAsync((request, _) => Task.FromResult(request.Number switch
        {
            1 => first,
            2 => second,
            _ => 200,
        }));
        await using var webhook = new OccupancyWebhook(target.Url, Fast());

        Assert.True(webhook.TryEnqueue(Notice("retried")));
        Assert.True(webhook.TryEnqueue(Notice("next")));
        await WebhookTarget.EventuallyAsync(() => webhook.Delivered == 2, "both notices delivered");

        Assert.Equal(["retried", "retried", "retried", "next"], target.Bodies.Select(Room));
        Assert.Single(target.Bodies.Take(3).Distinct()); // the same body each time
        Assert.Equal((0, 0), (webhook.Failed, webhook.Dropped));
    }

    [Fact]
    public async Task A_400_is_not_retried()
    {
        using var metrics = new Measurements();
        await using var target = await WebhookTarget.StartAsync((request, _) => Task.FromResult(Room(request.Body) == "refused" ? 400 : 200));
        await using var webhook = new OccupancyWebhook(target.Url, Fast(), meterFactory: metrics.Factory);

        Assert.True(webhook.TryEnqueue(Notice("refused")));
        Assert.True(webhook.TryEnqueue(Notice("accepted")));
        // In order: once the second is in, the first is settled.
        await WebhookTarget.EventuallyAsync(() => webhook.Delivered == 1, "the second notice delivered");

        Assert.Equal(["refused", "accepted"], target.Bodies.Select(Room));
        Assert.Equal(1, webhook.Failed);
        Assert.Equal(1, metrics.Sum("moltbeat.webhook.failed", "reason=rejected"));
    }

    [Fact]
    public async Task A_notice_is_given_up_after_its_attempts_and_the_next_goes_on()
    {
        using var metrics = new Measurements();
        var logger = new ListLogger();
        await using var target = await WebhookTarget.StartAsync((request, _) => Task.FromResult(Room(request.Body) == "doomed" ? 500 : 200));
        await using var webhook = new OccupancyWebhook(target.Url, Fast(o => o.MaxAttempts = 3), logger, metrics.Factory);

        Assert.True(webhook.TryEnqueue(Notice("doomed")));
        Assert.True(webhook.TryEnqueue(Notice("fine")));
        await WebhookTarget.EventuallyAsync(() => webhook.Delivered == 1, "the second notice delivered");

        Assert.Equal(["doomed", "doomed", "doomed", "fine"], target.Bodies.Select(Room));
        Assert.Equal(1, webhook.Failed);
        Assert.Equal(1, metrics.Sum("moltbeat.webhook.failed", "reason=retries"));
        // Three failed attempts, one warning (rate-limited), then one line when it accepts again.
        Assert.Equal(1, logger.Count(401));
        Assert.Contains("HTTP 500", logger.Messages(401)[0], StringComparison.Ordinal);
        Assert.DoesNotContain("t0ken", logger.Messages(401)[0], StringComparison.Ordinal);
        await WebhookTarget.EventuallyAsync(() => logger.Count(402) == 1, "one line saying it accepts again");
    }

    [Fact]
    public async Task A_timeout_is_retried()
    {
        await using var target = await WebhookTarget.StartAsync(async (request, aborted) =>
        {
            if (request.Number == 1)
                await Task.Delay(TimeSpan.FromSeconds(10), aborted);
            return 200;
        });
        await using var webhook = new OccupancyWebhook(target.Url, Fast(o => o.RequestTimeout = TimeSpan.FromSeconds(1)));

        Assert.True(webhook.TryEnqueue(Notice("slow-once")));
        await WebhookTarget.EventuallyAsync(() => webhook.Delivered == 1, "the notice delivered after a timeout");
        Assert.True(target.Requests.Count >= 2, $"{target.Requests.Count} requests");
        Assert.All(target.Bodies, body => Assert.Equal("slow-once", Room(body)));
        Assert.Equal(0, webhook.Failed);
    }

    [Fact]
    public async Task A_target_that_is_down_drops_beyond_the_bound_and_later_notices_get_through_once_it_listens()
    {
        var port = ServerProcess.FreePort();
        var logger = new ListLogger();
        using var metrics = new Measurements();
        await using var webhook = new OccupancyWebhook(new Uri($"http://127.0.0.1:{port}/hooks/moltbeat"),
            Fast(o =>
            {
                o.QueueCapacity = 10;
                o.MaxAttempts = 2;
                o.WarningInterval = TimeSpan.FromHours(1);
            }), logger, metrics.Factory);

        var clock = Stopwatch.StartNew();
        var accepted = 0;
        for (var i = 0; i < 200; i++)
        {
            if (webhook.TryEnqueue(Notice($"down-{i}")))
                accepted++;
            Assert.True(webhook.Queued <= 10, $"{webhook.Queued} queued");
        }
        clock.Stop();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"200 TryEnqueue calls took {clock.Elapsed}");
        Assert.True(webhook.Dropped > 0, "nothing dropped");
        Assert.Equal(200 - accepted, webhook.Dropped);
        Assert.Equal(webhook.Dropped, metrics.Sum("moltbeat.webhook.dropped"));

        // Every queued notice is given up in turn (refused connections), warned of once, drops once.
        await WebhookTarget.EventuallyAsync(() => webhook.Failed == accepted, $"{accepted} notices given up");
        Assert.Equal(0, webhook.Delivered);
        Assert.Equal(accepted, metrics.Sum("moltbeat.webhook.failed", "reason=retries"));
        Assert.Equal(1, logger.Count(401));
        await WebhookTarget.EventuallyAsync(() => logger.Count(403) == 1, "one queue-full warning");
        Assert.Contains("notices dropped", logger.Messages(403)[0], StringComparison.Ordinal);

        await using var target = await WebhookTarget.StartAsync(port: port);
        Assert.True(webhook.TryEnqueue(Notice("back")));
        await WebhookTarget.EventuallyAsync(() => webhook.Delivered == 1, "a notice delivered once the target listens");
        Assert.Equal(["back"], target.Bodies.Select(Room));
        await WebhookTarget.EventuallyAsync(() => logger.Count(402) == 1, "one line saying it accepts again");
    }

    [Fact]
    public async Task A_slow_target_does_not_block_TryEnqueue_and_disposal_does_not_wait_for_it()
    {
        await using var target = await WebhookTarget.StartAsync(async (_, aborted) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2), aborted);
            return 200;
        });
        var webhook = new OccupancyWebhook(target.Url, Fast());

        var clock = Stopwatch.StartNew();
        var accepted = 0;
        for (var i = 0; i < 2000; i++)
        {
            if (webhook.TryEnqueue(Notice($"slow-{i}")))
                accepted++;
        }
        clock.Stop();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"2000 TryEnqueue calls took {clock.Elapsed}");
        // The default bound: 1000 queued, and maybe one more already taken by the sender.
        Assert.InRange(accepted, 1000, 1001);
        Assert.Equal(2000 - accepted, webhook.Dropped);
        Assert.InRange(webhook.Queued, 999, 1000);

        clock.Restart();
        await webhook.DisposeAsync();
        clock.Stop();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"disposal took {clock.Elapsed} (a drain of at most 2 s)");
        Assert.Equal(2000, webhook.Delivered + webhook.Failed + webhook.Dropped);
        Assert.False(webhook.TryEnqueue(Notice("after")));
        Assert.Equal(2000 - accepted, webhook.Dropped);
    }

    [Fact]
    public async Task Disposal_does_not_wait_for_a_retry()
    {
        await using var target = await WebhookTarget.StartAsync((_, _) => Task.FromResult(503));
        var webhook = new OccupancyWebhook(target.Url, Fast(o =>
        {
            o.InitialBackoff = TimeSpan.FromSeconds(20);
            o.MaxBackoff = TimeSpan.FromSeconds(30);
        }));
        Assert.True(webhook.TryEnqueue(Notice("waiting")));
        Assert.True(webhook.TryEnqueue(Notice("queued")));
        await WebhookTarget.EventuallyAsync(() => target.Requests.Count == 1, "the first attempt");

        var clock = Stopwatch.StartNew();
        await webhook.DisposeAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"disposal took {clock.Elapsed}");
        // The queued one had its single drain attempt; neither was retried.
        Assert.Equal(["waiting", "queued"], target.Bodies.Select(Room));
        Assert.Equal(2, webhook.Failed);
    }

    [Fact]
    public void TryEnqueue_refuses_what_it_cannot_send_without_throwing()
    {
        using var webhook = new OccupancyWebhook(new Uri("http://127.0.0.1:9/never"), Fast());
        Assert.False(webhook.TryEnqueue(null!));
        Assert.False(webhook.TryEnqueue(new RoomOccupancyNotice((RoomOccupancyKind)7, "x", At)));
        Assert.False(webhook.TryEnqueue(new RoomOccupancyNotice(RoomOccupancyKind.Vacated, null!, At)));
        Assert.Equal(0, webhook.Dropped);
        Assert.Throws<ArgumentException>(() => new OccupancyWebhook(new Uri("ftp://example.com/hook")));
        Assert.Throws<ArgumentOutOfRangeException>(() => new OccupancyWebhook(new Uri("http://example.com/"), new OccupancyWebhookOptions { QueueCapacity = 0 }));
    }

    /// <summary>The instruments of one webhook: a meter factory of its own, so parallel tests do not mix.</summary>
    private sealed class Measurements : IDisposable
    {
        private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _sums = new();

        public Measurements()
        {
            Factory = _services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == Factory)
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                _sums.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value);
                foreach (var tag in tags)
                {
                    var key = instrument.Name + "|" + (tag.Key == "type" ? tag.Value : $"{tag.Key}={tag.Value}");
                    _sums.AddOrUpdate(key, value, (_, sum) => sum + value);
                }
            });
            _listener.Start();
        }

        public IMeterFactory Factory { get; }

        public long Sum(string instrument, string? tag = null) => _sums.GetValueOrDefault(tag is null ? instrument : instrument + "|" + tag);

        public void Dispose()
        {
            _listener.Dispose();
            _services.Dispose();
        }
    }

    private sealed class ListLogger : ILogger<OccupancyWebhook>
    {
        private readonly List<(int Id, string Message)> _entries = [];

        public int Count(int id) => Messages(id).Count;

        public IReadOnlyList<string> Messages(int id)
        {
            lock (_entries)
                return [.. _entries.Where(e => e.Id == id).Select(e => e.Message)];
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_entries)
                _entries.Add((eventId.Id, formatter(state, exception)));
        }
    }
}

/// <summary><c>--webhook-url</c> on the real server process: refused at start when it is not an http(s) URL, served when it is.</summary>
public sealed class WebhookConfigurationTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("--webhook-url", "ftp://user:s3cret@example.com/hook?token=t0ken")]
    [InlineData("--webhook-url", "hooks.example.com/moltbeat")]
    [InlineData("env", "/relative/hook")]
    public async Task An_invalid_webhook_url_is_refused_at_start(string how, string url)
    {
        var port = ServerProcess.FreePort();
        var portArg = port.ToString(CultureInfo.InvariantCulture);
        await using var server = how == "env"
            ? ServerProcess.Launch(["--port", portArg], new Dictionary<string, string> { ["MoltBeat__WebhookUrl"] = url }, port)
            : ServerProcess.Launch(["--port", portArg, how, url], port: port);
        var code = await server.WaitForExitAsync(ExitTimeout);
        Assert.True(code == 2, $"exit code {code}:\n{server.Output}");
        Assert.Contains("--webhook-url must be an absolute http:// or https:// URL", server.Output, StringComparison.Ordinal);
        Assert.Contains("did not start", server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("t0ken", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_room_getting_its_first_subscriber_and_losing_its_last_is_posted_to_the_webhook_once_each()
    {
        await using var target = await WebhookTarget.StartAsync();
        await using var server = await ServerProcess.StartAsync("--webhook-url", target.Url.ToString());
        var room = $"hook:{Guid.NewGuid():N}";

        await using (var client = await server.SubscribedClientAsync(room))
            await WaitForAsync(target, room, "room.occupied");
        // Vacated once nobody was there for the debounce (5 s by default).
        await WaitForAsync(target, room, "room.vacated");

        var notices = target.Bodies.Select(b => JsonDocument.Parse(b).RootElement).Where(n => n.GetProperty("room").GetString() == room).ToList();
        Assert.Equal(["room.occupied", "room.vacated"], notices.Select(n => n.GetProperty("type").GetString()));
    }

    private static async Task WaitForAsync(WebhookTarget target, string room, string type)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!target.Bodies.Any(b => b.Contains($"\"{type}\"", StringComparison.Ordinal) && b.Contains(room, StringComparison.Ordinal)))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(20), $"no {type} for {room}; got: {string.Join(" ", target.Bodies)}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_valid_webhook_url_starts_the_sender_and_exports_its_metrics()
    {
        await using var target = await WebhookTarget.StartAsync();
        await using var server = await ServerProcess.StartAsync("--webhook-url", target.Url.ToString());
        using var http = new HttpClient { BaseAddress = server.HttpUrl };
        var metrics = await http.GetStringAsync("metrics");
        Assert.Contains("moltbeat_webhook_queued", metrics, StringComparison.Ordinal);
        Assert.Contains("Occupancy webhook: room.occupied and room.vacated notices are POSTed to", server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("t0ken", server.Output, StringComparison.Ordinal);

        server.Terminate();
        Assert.Equal(0, await server.WaitForExitAsync(ExitTimeout));
    }
}
