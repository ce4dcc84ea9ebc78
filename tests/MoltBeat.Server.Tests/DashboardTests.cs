using System.Net.Http.Json;
using Microsoft.Playwright;
using MoltBeat.Server.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace MoltBeat.Server.Tests;

/// <summary>The dashboard at / in real headless Chromium (Debian's /usr/bin/chromium; no browser is downloaded).</summary>
public sealed class DashboardTests
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string[] ChromiumArgs =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

    private const float Timeout = 15_000;

    static DashboardTests() => SetDefaultExpectTimeout(Timeout);

    public static string ScreenshotDir => Path.Combine(AppContext.BaseDirectory, "TestResults");

    private static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        Assert.True(File.Exists(Chromium), "Install Chromium: apt-get install -y chromium");
        var playwright = await Playwright.CreateAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ChromiumArgs,
            Timeout = 30_000,
        });
        return (playwright, browser);
    }

    /// <summary>Opens the dashboard of <paramref name="server"/> in a fresh Chromium page (<paramref name="height"/> px high) and runs <paramref name="test"/> on it.</summary>
    private static async Task OnDashboardAsync(ServerProcess server, int height, Func<IPage, Task> test)
    {
        var (playwright, browser) = await LaunchAsync();
        try
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = height } });
            page.SetDefaultTimeout(Timeout);
            await page.GotoAsync(server.HttpUrl.ToString());
            await test(page);
        }
        finally
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }

    [Fact]
    public async Task Dashboard_shows_live_demo_events_and_filters_by_room()
    {
        await using var server = await ServerProcess.StartAsync("--demo", "--demo-rate", "20");
        await OnDashboardAsync(server, 800, async page =>
        {

            await Expect(page.Locator("#status")).ToHaveTextAsync("connected");
            var rows = page.Locator("#log .event-row");
            await Expect(rows.Nth(9)).ToBeAttachedAsync(); // ten demo events rendered live
            await Expect(page.Locator("#clients")).Not.ToHaveTextAsync("0");
            await Expect(page.Locator("#roomTable td", new PageLocatorOptions { HasText = "all" }).First).ToBeVisibleAsync();
            await Expect(page.Locator("#rate")).Not.ToHaveTextAsync("0");
            // A few seconds of chart before the picture.
            await page.WaitForFunctionAsync("() => Number(document.getElementById('total').textContent.replace(/\\D/g, '')) >= 100", null, new PageWaitForFunctionOptions { Timeout = Timeout });
            Directory.CreateDirectory(ScreenshotDir);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDir, "dashboard.png") });

            // Filter by a room: only its events (and its children's) stay visible, old and new.
            await page.FillAsync("#filter", "analytics:metrics");
            using (var http = new HttpClient { BaseAddress = server.HttpUrl, Timeout = TimeSpan.FromSeconds(10) })
            {
                using var a = await http.PostAsJsonAsync(new Uri("/api/publish", UriKind.Relative), new { room = "analytics:metrics", @event = "filter:kept", data = new { n = 1 } });
                using var b = await http.PostAsJsonAsync(new Uri("/api/publish", UriKind.Relative), new { room = "agent:42", @event = "filter:hidden", data = new { n = 2 } });
                Assert.True(a.IsSuccessStatusCode && b.IsSuccessStatusCode);
            }
            await Expect(page.Locator("#log .event-row[data-event='filter:kept']")).ToBeVisibleAsync();
            await Expect(page.Locator("#log .event-row[data-event='filter:hidden']")).ToBeHiddenAsync();
            var visibleRooms = await page.EvalOnSelectorAllAsync<string[]>("#log .event-row[data-room]:not([hidden])", "rows => rows.map(r => r.dataset.room)");
            Assert.NotEmpty(visibleRooms);
            Assert.All(visibleRooms, r => Assert.Contains("analytics:metrics", r, StringComparison.Ordinal));
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDir, "dashboard-filtered.png") });

            // Clearing the filter shows everything again.
            await page.FillAsync("#filter", "");
            await Expect(page.Locator("#log .event-row[data-event='filter:hidden']")).ToBeVisibleAsync();

            // Clicking a busy room filters to it.
            await page.Locator("#activeTable tr", new PageLocatorOptions { HasText = "analytics:posts" }).First.ClickAsync();
            await Expect(page.Locator("#filter")).ToHaveValueAsync("analytics:posts");
            await Expect(page.Locator("#shown")).ToContainTextAsync("shown");
        });
    }

    [Fact]
    public async Task Dashboard_opens_on_the_events_published_before_it_was_opened_in_its_log_and_chart()
    {
        await using var server = await ServerProcess.StartAsync();
        using (var http = new HttpClient { BaseAddress = server.HttpUrl, Timeout = TimeSpan.FromSeconds(10) })
        {
            for (var n = 1; n <= 5; n++)
            {
                using var published = await http.PostAsJsonAsync(new Uri("/api/publish", UriKind.Relative), new { room = "analytics:metrics", @event = $"before:{n}", data = new { n } });
                Assert.True(published.IsSuccessStatusCode);
            }
        }
        await OnDashboardAsync(server, 800, async page =>
        {

            await Expect(page.Locator("#status")).ToHaveTextAsync("connected");
            // Newest first, as live events are shown; nothing was published since the page opened.
            var events = page.Locator("#log .event-row[data-event]");
            await Expect(events).ToHaveCountAsync(5);
            Assert.Equal(["before:5", "before:4", "before:3", "before:2", "before:1"], await page.EvalOnSelectorAllAsync<string[]>("#log .event-row[data-event]", "rows => rows.map(r => r.dataset.event)"));
            await Expect(page.Locator("#log")).ToContainTextAsync("opened on the last 5 events");
            await Expect(page.Locator("#empty")).ToHaveCountAsync(0);
            // The chart counts them in the seconds they were published (all within the last minute).
            await Expect(page.Locator("#peak")).Not.ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"peak 0/s"));
            Directory.CreateDirectory(ScreenshotDir);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDir, "dashboard-opened-with-last.png") });
        });
    }

    [Fact]
    public async Task Operations_panel_shows_delivery_latency_per_room_and_the_recovery_figures_under_the_demo_feed()
    {
        await using var server = await ServerProcess.StartAsync("--demo", "--demo-rate", "20");
        await OnDashboardAsync(server, 1100, async page =>
        {
            await Expect(page.Locator("#status")).ToHaveTextAsync("connected");

            // The dashboard's own subscription receives the demo feed: its deliveries are measured per room class.
            var latencyRows = page.Locator("#latencyTable tr[data-room]");
            await Expect(latencyRows.First).ToBeVisibleAsync();
            await Expect(latencyRows.First.Locator("td").Nth(1)).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+\.\d\d / \d+\.\d\d$"));
            await Expect(page.Locator("#node")).ToContainTextAsync("memory");
            await Expect(page.Locator("#slowConsumers")).ToHaveTextAsync("0");
            await Expect(page.Locator("#laggingTable")).ToContainTextAsync("nobody is behind");
            // One node (in memory), this one, with the dashboard's own connection.
            await Expect(page.Locator("#nodesAlive")).ToHaveTextAsync("1");
            await Expect(page.Locator("#nodesTable")).ToContainTextAsync("local (this node)");
            Directory.CreateDirectory(ScreenshotDir);
            await page.Locator("#operations").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(ScreenshotDir, "operations.png") });

            // The figures behind it are real: percentiles in order, from samples.
            using var http = new HttpClient { BaseAddress = server.HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
            var report = await http.GetFromJsonAsync<System.Text.Json.JsonElement>(new Uri("/api/operations", UriKind.Relative));
            var node = Assert.Single(report.GetProperty("nodes").EnumerateArray());
            Assert.True(node.GetProperty("self").GetBoolean());
            Assert.True(node.GetProperty("connections").GetInt32() >= 1);
            var latency = report.GetProperty("latency").EnumerateArray().ToList();
            Assert.NotEmpty(latency);
            Assert.All(latency, l =>
            {
                Assert.True(l.GetProperty("samples").GetInt32() > 0);
                Assert.True(l.GetProperty("p50").GetDouble() <= l.GetProperty("p99").GetDouble());
                Assert.True(l.GetProperty("p99").GetDouble() <= l.GetProperty("max").GetDouble());
            });
        });
    }

    [Fact]
    public async Task Dashboard_passes_its_token_through_when_auth_is_on()
    {
        const string secret = "dashboard-secret-0123456789abcdefgh";
        await using var server = await ServerProcess.StartAsync("--jwt-secret", secret);
        await OnDashboardAsync(server, 800, async page =>
        {
            await Expect(page.Locator("#status")).ToHaveTextAsync("token required");
            await Expect(page.Locator("#notice")).ToContainTextAsync("?token=");

            await page.GotoAsync(new Uri(server.HttpUrl, "/?token=" + Jwt.Create(secret, "dashboard")).ToString());
            await Expect(page.Locator("#status")).ToHaveTextAsync("connected");
            await Expect(page.Locator("#notice")).ToHaveTextAsync("");

            // A wrong token: the server closes with 4001 and the page does not retry.
            await page.GotoAsync(new Uri(server.HttpUrl, "/?token=not-a-jwt").ToString());
            await Expect(page.Locator("#status")).ToHaveTextAsync("unauthorized (4001)");
        });
    }

    [Fact]
    public async Task Dashboard_counts_a_rooms_subscribers_on_every_node_of_a_redis_cluster()
    {
        await using var redis = await MoltBeat.WebSocket.Redis.Tests.Infrastructure.RedisServer.StartAsync();
        string[] cluster = ["--redis", redis.Configuration, "--redis-prefix", "dash" + Guid.NewGuid().ToString("N")[..8]];
        await using var nodeA = await ServerProcess.StartAsync(cluster);
        await using var nodeB = await ServerProcess.StartAsync(cluster);
        var room = "dash:" + Guid.NewGuid().ToString("N")[..8];
        var onlyOnB = room + ":b";
        // One subscriber of the room on the dashboard's node, two on the other; a room subscribed on the other node only.
        await using var a1 = await WsClient.ConnectAsync(nodeA.WsUrl());
        await a1.SubscribeAsync(room);
        await using var b1 = await WsClient.ConnectAsync(nodeB.WsUrl());
        await b1.SubscribeAsync(room);
        await using var b2 = await WsClient.ConnectAsync(nodeB.WsUrl());
        await b2.SubscribeAsync(room);
        await b2.SubscribeAsync(onlyOnB);

        await OnDashboardAsync(nodeA, 800, async page =>
        {
            await Expect(page.Locator("#status")).ToHaveTextAsync("connected");
            // The room only node B has shows once one of its events was seen.
            using (var http = new HttpClient { BaseAddress = nodeB.HttpUrl, Timeout = TimeSpan.FromSeconds(10) })
            {
                using var published = await http.PostAsJsonAsync(new Uri("/api/publish", UriKind.Relative), new { room = onlyOnB, @event = "seen", data = new { n = 1 } });
                Assert.True(published.IsSuccessStatusCode);
            }
            await Expect(page.Locator("#roomScope")).ToHaveTextAsync("all nodes");
            await Expect(page.Locator("#nodesAlive")).ToHaveTextAsync("2");
            await Expect(page.Locator($"#roomTable tr:has(td:first-child:text-is('{room}')) td:last-child")).ToHaveTextAsync("3");
            await Expect(page.Locator($"#roomTable tr:has(td:first-child:text-is('{onlyOnB}')) td:last-child")).ToHaveTextAsync("1");
        });
        // What node A alone counts: one subscriber of the room, none of the other.
        using var stats = new HttpClient { BaseAddress = nodeA.HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        var rooms = (await stats.GetFromJsonAsync<System.Text.Json.JsonElement>(new Uri("/api/stats", UriKind.Relative))).GetProperty("rooms").EnumerateArray().ToList();
        Assert.Equal(1, rooms.Single(r => r.GetProperty("room").GetString() == room).GetProperty("subscribers").GetInt32());
        Assert.DoesNotContain(rooms, r => r.GetProperty("room").GetString() == onlyOnB);
    }
}
