using System.Diagnostics;
using System.Globalization;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// The MoltBeat server application (src/MoltBeat.Server, Release build) in a process of its own, with its command-line
/// options: the deployed server, HTTP publish API included, for figures that depend on its options.
/// </summary>
internal sealed class AppServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private AppServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public Uri WsUri => new($"ws://127.0.0.1:{Port}/ws");

    public Uri HttpUri => new($"http://127.0.0.1:{Port}/");

    /// <summary>CPU time (user + system) the server has used.</summary>
    public TimeSpan CpuTime() => PeerProcess.CpuTimeOf(_process.Id);

    public static async Task<AppServerProcess> StartAsync(string repoRoot, params string[] options)
    {
        var dll = Path.Combine(repoRoot, "src/MoltBeat.Server/bin/Release/net10.0/MoltBeat.Server.dll");
        if (!File.Exists(dll))
            throw new InvalidOperationException($"{dll} is missing: build the solution in Release first.");
        var port = PeerProcess.FreePort();
        var info = new ProcessStartInfo("dotnet", [dll, "--urls", $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", .. options])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["DOTNET_gcServer"] = "0";
        info.Environment.Remove(PeerProcess.InlineCompletions);
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start the server");
        // Its output is not read: drain it so that a chatty log never blocks the server.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new AppServerProcess(process, port);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await http.GetAsync(new Uri(server.HttpUri, "api/health"))).IsSuccessStatusCode)
                    return server;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }
            if (process.HasExited)
                break;
            await Task.Delay(100);
        }
        await server.DisposeAsync();
        throw new InvalidOperationException("the MoltBeat server did not start");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            // gone already
        }
        _process.Dispose();
    }
}
