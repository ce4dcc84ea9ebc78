namespace MoltBeat.Server;

/// <summary>
/// The server's settings, from appsettings.json (section <c>MoltBeat</c>), environment variables
/// (<c>MoltBeat__Port</c>) and command-line options (<c>--port</c>); see <see cref="CommandLine"/>.
/// </summary>
public sealed class ServerSettings
{
    /// <summary>Address to bind. Default 127.0.0.1; 0.0.0.0 accepts remote clients.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>HTTP and WebSocket port. Default 3000.</summary>
    public int Port { get; set; } = 3000;

    /// <summary>WebSocket path. Default /ws.</summary>
    public string Path { get; set; } = "/ws";

    /// <summary>HS256 secret; when set, clients need a JWT signed with it.</summary>
    public string? JwtSecret { get; set; }

    /// <summary>Required JWT issuer.</summary>
    public string? JwtIssuer { get; set; }

    /// <summary>Required JWT audience.</summary>
    public string? JwtAudience { get; set; }

    /// <summary>API key for POST /api/publish and /api/broadcast (header X-Api-Key). None: the HTTP API is open (bind to loopback only!).</summary>
    public string? ApiKey { get; set; }

    /// <summary>Comma-separated browser origins allowed to connect; empty allows all.</summary>
    public string? AllowedOrigins { get; set; }

    /// <summary>Heartbeat interval in seconds. Default 30.</summary>
    public int HeartbeatSeconds { get; set; } = 30;

    /// <summary>Feed demo analytics events.</summary>
    public bool Demo { get; set; }

    /// <summary>Demo events per second. Default 5.</summary>
    public double DemoRate { get; set; } = 5;

    /// <summary>Throws a clear message for settings that cannot work.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535)
            throw new ArgumentException($"--port must be 0-65535, got {Port}.");
        if (!System.Net.IPAddress.TryParse(Host, out _) && Host != "localhost")
            throw new ArgumentException($"--host must be an IP address or localhost, got '{Host}'.");
        if (JwtSecret is { Length: < 32 })
            throw new ArgumentException("--jwt-secret must be at least 32 characters.");
        if (DemoRate is <= 0 or > 10_000)
            throw new ArgumentException($"--demo-rate must be between 0 and 10000 events/s, got {DemoRate}.");
        if (HeartbeatSeconds < 1)
            throw new ArgumentException("--heartbeat must be at least 1 second.");
    }
}
