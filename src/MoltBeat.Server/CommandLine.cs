using System.Text;

namespace MoltBeat.Server;

/// <summary>The server's command-line options, each mapped onto a configuration key of <see cref="ServerSettings"/>.</summary>
internal static class CommandLine
{
    /// <summary>One option: its switch, the key it sets under <c>MoltBeat:</c>, its argument and what it does.</summary>
    public sealed record Option(string Switch, string Key, string Argument, string Description);

    public static readonly IReadOnlyList<Option> Options =
    [
        new("--host", "Host", "ADDRESS", "address to bind (default 127.0.0.1; 0.0.0.0 for remote clients)"),
        new("--port", "Port", "N", "HTTP and WebSocket port (default 3000; 0 picks a free one)"),
        new("--path", "Path", "PATH", "WebSocket path (default /ws)"),
        new("--jwt-secret", "JwtSecret", "S", "require HS256 JWTs signed with S (>= 32 bytes) from WebSocket clients; default: no auth"),
        new("--jwt-issuer", "JwtIssuer", "I", "required JWT issuer (iss)"),
        new("--jwt-audience", "JwtAudience", "A", "required JWT audience (aud)"),
        new("--api-key", "ApiKey", "K", "require X-Api-Key: K (>= 16 chars) on POST /api/publish and /api/broadcast; the only key to /api/revoke and /api/unsubscribe (off without it)"),
        new("--allowed-origins", "AllowedOrigins", "LIST", "comma-separated browser origins allowed to connect (default: all)"),
        new("--heartbeat", "HeartbeatSeconds", "SECONDS", "heartbeat interval (default 30)"),
        new("--max-connections", "MaxConnections", "N", "open WebSocket connections accepted, then 503 (default 50000)"),
        new("--max-message-size", "MaxMessageSize", "BYTES", "largest client message, then close 1009 (default 16384)"),
        new("--max-payload-size", "MaxPayloadSize", "BYTES", "largest event payload, serialized (default 65536)"),
        new("--max-body-size", "MaxRequestBodySize", "BYTES", "largest HTTP API request body, then 413 (default 131072)"),
        new("--max-queued-bytes", "MaxQueuedBytes", "BYTES", "outgoing queue bound per connection, then close 4009 (default 1048576)"),
        new("--max-queued-messages", "MaxQueuedMessages", "N", "outgoing queue bound per connection in messages (default 10000)"),
        new("--max-subscriptions", "MaxSubscriptions", "N", "subscriptions per connection (default 100)"),
        new("--rate-limit", "RateLimit", "N", "messages/s one client may send on average (default 50)"),
        new("--rate-limit-burst", "RateLimitBurst", "N", "messages one client may send in a burst (default 100)"),
        new("--compression", "Compression", "", "accept permessage-deflate from clients that offer it (browsers do): events of --compression-threshold bytes or more go compressed, once per publish (default: off)"),
        new("--compression-threshold", "CompressionThreshold", "BYTES", $"smallest event sent compressed (default {MoltBeat.WebSocket.Server.WSServerOptions.DefaultCompressionThreshold})"),
        new("--history-events", "HistoryEvents", "N", "events kept per room for recovery (default 1000; 0: none)"),
        new("--history-max-age", "HistoryMaxAgeSeconds", "SECONDS", "how long events are kept for recovery (default 300)"),
        new("--shutdown-timeout", "ShutdownTimeoutSeconds", "SECONDS", "time to close clients with 1001 and exit (default 10)"),
        new("--redis", "Redis", "HOST:PORT", "scale out over several servers through Redis (default: in-memory, one server)"),
        new("--redis-prefix", "RedisPrefix", "PREFIX", "Redis key and channel prefix, the same on every node of one cluster (default moltbeat)"),
        new("--reuse-port", "ReusePort", "", "share the port with other nodes of the cluster on this machine (SO_REUSEPORT, Linux; needs --redis): each holds as many connections as its open-file limit"),
        new("--webhook-url", "WebhookUrl", "URL", "POST room.occupied / room.vacated (JSON) to URL, http or https, when a room gains its first or loses its last subscriber cluster-wide (default: off)"),
        new("--demo", "Demo", "", "feed demo analytics events (agents, posts, metrics, alerts)"),
        new("--demo-rate", "DemoRate", "N", "demo events per second (default 5)"),
    ];

    /// <summary>Switch → configuration key, for <c>AddCommandLine</c>.</summary>
    public static readonly Dictionary<string, string> Switches =
        Options.ToDictionary(o => o.Switch, o => "MoltBeat:" + o.Key, StringComparer.Ordinal);

    /// <summary>Options of ASP.NET Core itself that are passed through.</summary>
    private static readonly string[] HostSwitches = ["--urls", "--environment", "--contentRoot", "--help"];

    public static string Help
    {
        get
        {
            var text = new StringBuilder();
            text.AppendLine("MoltBeat server: WebSocket pub/sub for live analytics.");
            text.AppendLine();
            text.AppendLine("Usage: dotnet run -c Release --project src/MoltBeat.Server -- [options]");
            text.AppendLine("       dotnet MoltBeat.Server.dll [options]");
            text.AppendLine();
            foreach (var o in Options)
                text.AppendLine($"  {(o.Switch + " " + o.Argument),-30} {o.Description}");
            text.AppendLine($"  {"--urls URL[;URL]",-30} ASP.NET Core listen URLs; replace --host/--port (e.g. http://127.0.0.1:8080)");
            text.AppendLine($"  {"--help",-30} this text");
            text.AppendLine();
            text.AppendLine("Every option can also be set in appsettings.json (section \"MoltBeat\", keys as below) or as");
            text.AppendLine("an environment variable MoltBeat__<Key>; the command line wins over the environment, which");
            text.AppendLine("wins over appsettings.json. Keys:");
            foreach (var o in Options)
                text.AppendLine($"  {o.Switch,-22} MoltBeat:{o.Key,-24} MoltBeat__{o.Key}");
            text.AppendLine();
            text.AppendLine("TLS: configure Kestrel:Endpoints in appsettings.json (see docs/deployment.md); then --host and");
            text.AppendLine("--port are not used. Bad settings stop the server at start with exit code 2.");
            return text.ToString();
        }
    }

    /// <summary>Options that are flags: given bare, they mean true.</summary>
    private static readonly string[] Flags = ["--demo", "--compression", "--reuse-port"];

    /// <summary>Turns bare flags (<c>--demo</c>) into key=value pairs the configuration reader understands.</summary>
    public static string[] Normalize(string[] args)
    {
        var result = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            var isFlag = Flags.Contains(arg) && (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal));
            result.Add(isFlag ? arg + "=true" : arg);
        }
        return [.. result];
    }

    /// <summary>
    /// Finds what the configuration reader would silently ignore or misread: unknown options (a typo
    /// must never half-configure the server), and options given no value.
    /// </summary>
    public static string? FindError(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (i == 0 || !args[i - 1].StartsWith("--", StringComparison.Ordinal) || args[i - 1].Contains('=', StringComparison.Ordinal))
                    return $"Unexpected argument '{arg}'. Run with --help for the list of options.";
                continue;
            }
            var parts = arg.Split('=', 2);
            var name = parts[0];
            if (!Switches.ContainsKey(name) && !HostSwitches.Contains(name))
                return $"Unknown option {name}. Run with --help for the list of options.";
            if (name == "--help" || Flags.Contains(name))
                continue;
            if (parts.Length == 1 && (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal)))
                return $"Option {name} needs a value. Run with --help for the list of options.";
        }
        return null;
    }
}
