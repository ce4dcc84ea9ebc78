using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MoltBeat.Server.Tests.Infrastructure;

/// <summary>
/// The real MoltBeat.Server as a child process (<c>dotnet MoltBeat.Server.dll --urls http://127.0.0.1:PORT ...</c>),
/// on a free loopback port, with its output kept for failure messages. Disposing kills it if it still runs.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public Uri HttpUrl => new($"http://127.0.0.1:{Port}/");

    public Uri WsUrl(string query = "") => new($"ws://127.0.0.1:{Port}/ws{query}");

    public int Pid => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public Task<int> Exited => _exited.Task;

    /// <summary>The path of the server's dll: the server project's own build output of this configuration, else next to the tests.</summary>
    public static string ServerDll
    {
        get
        {
            var here = AppContext.BaseDirectory;
            var configuration = here.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
            for (var dir = new DirectoryInfo(here); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MoltBeat.slnx")))
                {
                    var built = Path.Combine(dir.FullName, "src", "MoltBeat.Server", "bin", configuration, "net10.0", "MoltBeat.Server.dll");
                    if (File.Exists(built))
                        return built;
                    break;
                }
            }
            return Path.Combine(here, "MoltBeat.Server.dll");
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static readonly Lazy<bool> CanResetSigint = new(() =>
    {
        try
        {
            using var probe = Process.Start(new ProcessStartInfo("env", ["--default-signal=INT", "true"]) { UseShellExecute = false, RedirectStandardError = true })!;
            probe.WaitForExit(5000);
            return probe.HasExited && probe.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    });

    /// <summary>Starts the process without waiting for it to serve (for tests of start-up failures).</summary>
    public static ServerProcess Launch(IEnumerable<string> args, IDictionary<string, string>? env = null, int? port = null)
    {
        // A test run started in the background (`./test.sh &`) has SIGINT ignored, and the server would inherit
        // that and ignore Ctrl-C: GNU env resets it to the default, as an interactive terminal would have it.
        var info = new ProcessStartInfo(CanResetSigint.Value ? "env" : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(), // the server must not depend on its working directory
        };
        if (CanResetSigint.Value)
        {
            info.ArgumentList.Add("--default-signal=INT");
            info.ArgumentList.Add("dotnet");
        }
        info.ArgumentList.Add(ServerDll);
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment.Remove("ASPNETCORE_URLS");
        info.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MoltBeat__", StringComparison.OrdinalIgnoreCase)).ToList())
            info.Environment.Remove(key);
        foreach (var (key, value) in env ?? new Dictionary<string, string>())
            info.Environment[key] = value;
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var server = new ServerProcess(process, port ?? 0);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Exited += (_, _) =>
        {
            // Let the output readers drain before reporting the exit.
            process.WaitForExit();
            server._exited.TrySetResult(process.ExitCode);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    /// <summary>Starts the server on a free port with <paramref name="args"/> and waits until GET /api/health answers 200.</summary>
    public static async Task<ServerProcess> StartAsync(params string[] args)
    {
        var port = FreePort();
        var server = Launch(["--urls", $"http://127.0.0.1:{port}", .. args], port: port);
        await server.WaitUntilHealthyAsync();
        return server;
    }

    public async Task WaitUntilHealthyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (Exited.IsCompleted)
                throw new InvalidOperationException($"The server exited with {await Exited} during start-up:\n{Output}");
            try
            {
                using var response = await http.GetAsync(new Uri(HttpUrl, "api/health"));
                if (response.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        await DisposeAsync();
        throw new TimeoutException($"The server did not become healthy within {StartTimeout}:\n{Output}");
    }

    /// <summary>Sends SIGTERM, as systemd, docker stop or Ctrl-C (SIGINT) would.</summary>
    public void Terminate() => Signal("TERM");

    public void Signal(string name)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + name, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit(5000);
    }

    /// <summary>The exit code, or a timeout with the server's output.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            return await Exited.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The server did not exit within {timeout}:\n{Output}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await Exited.WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
        }
        catch (TimeoutException)
        {
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
        {
            if (_output.Length < 200_000)
                _output.AppendLine(line);
        }
    }
}
