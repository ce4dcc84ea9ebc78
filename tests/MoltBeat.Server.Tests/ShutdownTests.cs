using System.Diagnostics;
using System.Net.WebSockets;
using MoltBeat.Server.Tests.Infrastructure;

namespace MoltBeat.Server.Tests;

/// <summary>SIGTERM (systemd stop, docker stop, Ctrl-C's sibling) closes clients with 1001 and exits 0 in bounded time.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Sigterm_closes_clients_with_1001_and_exits_0()
    {
        await using var server = await ServerProcess.StartAsync("--demo", "--demo-rate", "50", "--shutdown-timeout", "5");
        await using var client = await WsClient.ConnectAsync(server.WsUrl("?batch=1"));
        await client.SubscribeAsync("all");
        await client.ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event"); // the demo feed is flowing

        var clock = Stopwatch.StartNew();
        server.Terminate();
        var status = await client.ReceiveCloseAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status); // 1001 going away
        var code = await server.WaitForExitAsync(TimeSpan.FromSeconds(15));
        Assert.True(code == 0, $"exit code {code}:\n{server.Output}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"shutdown took {clock.Elapsed}");
        Assert.Contains("Stopped", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigint_like_ctrl_c_also_exits_0()
    {
        await using var server = await ServerProcess.StartAsync();
        await using var client = await WsClient.ConnectAsync(server.WsUrl());
        server.Signal("INT");
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await client.ReceiveCloseAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(15)));
    }
}
