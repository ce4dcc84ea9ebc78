using System.Net;
using System.Net.Sockets;
using MoltBeat.Server.Tests.Infrastructure;

namespace MoltBeat.Server.Tests;

/// <summary>Bad configuration stops the real process at start, with a message naming the option and exit code 2.</summary>
public sealed class ConfigurationTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    public static TheoryData<string[], string, string> BadSettings => new()
    {
        { ["--port", "70000"], "", "--port must be 0-65535" },
        { ["--jwt-secret", "too-short"], "", "--jwt-secret must be at least 32 bytes" },
        { ["--bogus", "1"], "", "Unknown option --bogus" },
        { ["--port"], "", "Option --port needs a value" },
        { ["--path", "api"], "", "--path must start with '/'" },
        { ["--path", "/api/ws"], "", "collides" },
        { ["--allowed-origins", "example.com"], "", "not an origin" },
        { ["--demo", "--demo-rate", "0"], "", "--demo-rate" },
        { ["--max-queued-bytes", "10"], "", "--max-queued-bytes" },
        { ["--history-max-age", "0"], "", "--history-max-age" },
        { ["--api-key", "short"], "", "--api-key must be at least 16" },
        { ["--reuse-port"], "", "--reuse-port needs --redis" },
        { [], "MoltBeat__Port=abc", "MoltBeat:Port" },
        { [], "MoltBeat__MaxConnectoins=5", "MaxConnectoins" },
        { [], "MoltBeat__RateLimit=0", "--rate-limit" },
        { ["--compression", "--compression-threshold", "-1"], "", "--compression-threshold" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task Bad_configuration_exits_2_with_a_clear_message(string[] args, string env, string message)
    {
        var variables = new Dictionary<string, string>();
        if (env.Length > 0)
            variables[env.Split('=')[0]] = env.Split('=', 2)[1];
        var port = ServerProcess.FreePort();
        // A free port unless the case is about the port: should the settings pass by mistake, nothing else is disturbed.
        string[] portArgs = env.Contains("Port", StringComparison.Ordinal) ? [] : ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        await using var server = ServerProcess.Launch([.. portArgs, .. args], variables, port);
        var code = await server.WaitForExitAsync(ExitTimeout);
        Assert.True(code == 2, $"exit code {code}:\n{server.Output}");
        Assert.Contains(message, server.Output, StringComparison.Ordinal);
        Assert.Contains("did not start", server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Now listening", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_in_use_exits_1_without_serving()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await using var server = ServerProcess.Launch(["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--demo"], port: port);
        var code = await server.WaitForExitAsync(ExitTimeout);
        Assert.True(code == 1, $"exit code {code}:\n{server.Output}");
        Assert.Contains("could not start", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_lists_every_option_and_its_environment_variable()
    {
        await using var server = ServerProcess.Launch(["--help"]);
        Assert.Equal(0, await server.WaitForExitAsync(ExitTimeout));
        foreach (var option in (string[])["--port", "--host", "--path", "--jwt-secret", "--jwt-issuer", "--jwt-audience", "--api-key", "--allowed-origins",
                                          "--max-connections", "--max-message-size", "--max-queued-bytes", "--max-queued-messages", "--rate-limit",
                                          "--history-events", "--history-max-age", "--demo", "--demo-rate", "--urls", "MoltBeat__Port"])
            Assert.Contains(option, server.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[0], null)]
    [InlineData(new[] { "--compression" }, "permessage-deflate; server_no_context_takeover; client_no_context_takeover")]
    public async Task The_compression_flag_makes_the_server_accept_permessage_deflate(string[] args, string? accepted)
    {
        await using var server = await ServerProcess.StartAsync(args);
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.DangerousDeflateOptions = new System.Net.WebSockets.WebSocketDeflateOptions();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(server.WsUrl(), timeout.Token);
        var extensions = socket.HttpResponseHeaders!.TryGetValue("Sec-WebSocket-Extensions", out var values) ? string.Join(", ", values) : null;
        Assert.Equal(accepted, extensions);
    }

    [Fact]
    public async Task Environment_variables_configure_the_server()
    {
        var port = ServerProcess.FreePort();
        await using var server = ServerProcess.Launch([], new Dictionary<string, string>
        {
            ["MoltBeat__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MoltBeat__Path"] = "/live",
        }, port);
        await server.WaitUntilHealthyAsync();
        await using var client = await WsClient.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/live"));
        await client.SubscribeAsync("all");
    }
}
