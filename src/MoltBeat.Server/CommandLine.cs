namespace MoltBeat.Server;

/// <summary>The server's command-line options, mapped onto configuration keys of <see cref="ServerSettings"/>.</summary>
internal static class CommandLine
{
    public static readonly Dictionary<string, string> Switches = new(StringComparer.Ordinal)
    {
        ["--host"] = "MoltBeat:Host",
        ["--port"] = "MoltBeat:Port",
        ["--path"] = "MoltBeat:Path",
        ["--jwt-secret"] = "MoltBeat:JwtSecret",
        ["--jwt-issuer"] = "MoltBeat:JwtIssuer",
        ["--jwt-audience"] = "MoltBeat:JwtAudience",
        ["--api-key"] = "MoltBeat:ApiKey",
        ["--allowed-origins"] = "MoltBeat:AllowedOrigins",
        ["--heartbeat"] = "MoltBeat:HeartbeatSeconds",
        ["--demo"] = "MoltBeat:Demo",
        ["--demo-rate"] = "MoltBeat:DemoRate",
    };

    public const string Help = """
        MoltBeat server: WebSocket pub/sub for live analytics.

        Usage: dotnet run --project src/MoltBeat.Server -- [options]

          --host ADDRESS         address to bind (default 127.0.0.1; 0.0.0.0 for remote clients)
          --port N               HTTP and WebSocket port (default 3000)
          --path PATH            WebSocket path (default /ws)
          --jwt-secret S         require HS256 JWTs signed with S (>= 32 chars); default: no auth
          --jwt-issuer I         required JWT issuer
          --jwt-audience A       required JWT audience
          --api-key K            require header X-Api-Key: K on POST /api/publish and /api/broadcast
          --allowed-origins L    comma-separated browser origins allowed to connect (default: all)
          --heartbeat SECONDS    heartbeat interval (default 30)
          --demo                 feed demo analytics events
          --demo-rate N          demo events per second (default 5)
          --help                 this text

        Every option can also be set in appsettings.json (section MoltBeat) or as an environment
        variable: MoltBeat__Port=4000, MoltBeat__JwtSecret=...
        """;

    /// <summary>Turns bare flags (<c>--demo</c>) into key=value pairs the configuration reader understands.</summary>
    public static string[] Normalize(string[] args)
    {
        var result = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            var isFlag = arg == "--demo" && (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal));
            result.Add(isFlag ? "--demo=true" : arg);
        }
        return [.. result];
    }

    /// <summary>Unknown options are refused rather than ignored, so a typo never half-configures the server.</summary>
    public static string? FindUnknown(string[] args)
    {
        foreach (var arg in args)
        {
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                continue;
            var name = arg.Split('=', 2)[0];
            if (!Switches.ContainsKey(name) && name is not ("--urls" or "--environment" or "--help"))
                return name;
        }
        return null;
    }
}
