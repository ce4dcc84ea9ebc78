using System.Globalization;
using System.Net;
using System.Text;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.Server;

/// <summary>
/// The server's settings, from appsettings.json (section <c>MoltBeat</c>), environment variables
/// (<c>MoltBeat__Port</c>) and command-line options (<c>--port</c>), later ones winning; see
/// <see cref="CommandLine"/> for the option of each.
/// </summary>
public sealed class ServerSettings
{
    /// <summary>Address to bind. Default 127.0.0.1; 0.0.0.0 accepts remote clients.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>HTTP and WebSocket port. Default 3000; 0 picks a free port.</summary>
    public int Port { get; set; } = 3000;

    /// <summary>WebSocket path. Default /ws.</summary>
    public string Path { get; set; } = "/ws";

    /// <summary>HS256 secret; when set, clients need a JWT signed with it.</summary>
    public string? JwtSecret { get; set; }

    /// <summary>Required JWT issuer.</summary>
    public string? JwtIssuer { get; set; }

    /// <summary>Required JWT audience.</summary>
    public string? JwtAudience { get; set; }

    /// <summary>API key for POST /api/publish and /api/broadcast (header X-Api-Key).</summary>
    public string? ApiKey { get; set; }

    /// <summary>Comma-separated browser origins allowed to connect; empty allows all.</summary>
    public string? AllowedOrigins { get; set; }

    /// <summary>Heartbeat interval in seconds. Default 30.</summary>
    public int HeartbeatSeconds { get; set; } = 30;

    /// <summary>Open WebSocket connections accepted; further handshakes get 503. Default 50 000.</summary>
    public int MaxConnections { get; set; } = 50_000;

    /// <summary>Largest client message in bytes (close 1009 past it). Default 16 KiB.</summary>
    public int MaxMessageSize { get; set; } = 16 * 1024;

    /// <summary>Largest serialized event payload in bytes. Default 64 KiB.</summary>
    public int MaxPayloadSize { get; set; } = 64 * 1024;

    /// <summary>Largest HTTP API request body in bytes (413 past it). Default 128 KiB.</summary>
    public int MaxRequestBodySize { get; set; } = 128 * 1024;

    /// <summary>Bytes one connection's outgoing queue may hold before it is closed with 4009. Default 1 MiB.</summary>
    public int MaxQueuedBytes { get; set; } = 1024 * 1024;

    /// <summary>Messages one connection's outgoing queue may hold before it is closed with 4009. Default 10 000.</summary>
    public int MaxQueuedMessages { get; set; } = 10_000;

    /// <summary>Subscriptions one connection may hold. Default 100.</summary>
    public int MaxSubscriptions { get; set; } = 100;

    /// <summary>Messages per second one client may send on average. Default 50.</summary>
    public int RateLimit { get; set; } = 50;

    /// <summary>Messages one client may send in a burst above the average. Default 100.</summary>
    public int RateLimitBurst { get; set; } = 100;

    /// <summary>Whether clients that offer permessage-deflate get big events compressed (<see cref="WSServerOptions.Compression"/>). Default false.</summary>
    public bool Compression { get; set; }

    /// <summary>Smallest event sent compressed, in bytes (<see cref="WSServerOptions.CompressionThreshold"/>).</summary>
    public int CompressionThreshold { get; set; } = WSServerOptions.DefaultCompressionThreshold;

    /// <summary>Events of history kept per room for recovery. Default 1000; 0 keeps none.</summary>
    public int HistoryEvents { get; set; } = 1000;

    /// <summary>How long history is kept, in seconds. Default 300.</summary>
    public int HistoryMaxAgeSeconds { get; set; } = 300;

    /// <summary>How long shutdown may take, in seconds: clients are closed with 1001 and flushed within it. Default 10.</summary>
    public int ShutdownTimeoutSeconds { get; set; } = 10;

    /// <summary>Redis to scale out through (StackExchange.Redis configuration, e.g. <c>127.0.0.1:6379</c>); null keeps the in-memory engine.</summary>
    public string? Redis { get; set; }

    /// <summary>Redis key and channel prefix shared by the nodes of one cluster. Default <c>moltbeat</c>.</summary>
    public string RedisPrefix { get; set; } = "moltbeat";

    /// <summary>
    /// Whether the server binds its port with <c>SO_REUSEPORT</c>, sharing it with other nodes of the same cluster on this
    /// machine (the kernel spreads the connections over them). Needs <see cref="Redis"/>; Linux only.
    /// </summary>
    public bool ReusePort { get; set; }

    /// <summary>
    /// Webhook that gets a POST for each room occupied or vacated across the cluster (absolute http or https URL);
    /// null sends none. See <see cref="Webhooks.OccupancyWebhook"/>.
    /// </summary>
    public string? WebhookUrl { get; set; }

    /// <summary>Feed demo analytics events.</summary>
    public bool Demo { get; set; }

    /// <summary>Demo events per second. Default 5.</summary>
    public double DemoRate { get; set; } = 5;

    /// <summary>The allowed origins as a list.</summary>
    public IReadOnlyList<string> Origins =>
        (AllowedOrigins ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>True when the publish API needs credentials (an API key or a JWT secret is configured).</summary>
    public bool PublishRequiresAuth => ApiKey is not null || JwtSecret is not null;

    /// <summary>Every problem with these settings, each as one sentence naming the option; empty when they can work.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string message)
        {
            if (!ok)
                errors.Add(message);
        }
        Check(Port is >= 0 and <= 65535, $"--port must be 0-65535, got {Port}.");
        Check(Host == "localhost" || IPAddress.TryParse(Host, out _), $"--host must be an IP address or localhost, got '{Host}'.");
        Check(Path.Length > 1 && Path[0] == '/' && !Path.Contains('?', StringComparison.Ordinal) && !Path.Contains(' ', StringComparison.Ordinal),
            $"--path must start with '/' and name a path, got '{Path}'.");
        Check(!IsReserved(Path), $"--path '{Path}' collides with the server's own routes (/, /api, /metrics, /openapi).");
        Check(JwtSecret is null || Encoding.UTF8.GetByteCount(JwtSecret) >= 32, "--jwt-secret must be at least 32 bytes.");
        Check(JwtSecret is not null || (JwtIssuer is null && JwtAudience is null), "--jwt-issuer and --jwt-audience need --jwt-secret.");
        Check(ApiKey is null || ApiKey.Length >= 16, "--api-key must be at least 16 characters.");
        foreach (var origin in Origins)
        {
            Check(Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.AbsolutePath == "/" && !origin.EndsWith('/'),
                $"--allowed-origins: '{origin}' is not an origin like https://app.example.com (scheme, host and port only).");
        }
        Check(HeartbeatSeconds is >= 1 and <= 3600, $"--heartbeat must be 1-3600 seconds, got {HeartbeatSeconds}.");
        Check(MaxConnections is >= 1 and <= 10_000_000, $"--max-connections must be 1-10000000, got {MaxConnections}.");
        Check(MaxMessageSize is >= 128 and <= 16 * 1024 * 1024, $"--max-message-size must be 128 bytes to 16 MiB, got {MaxMessageSize}.");
        Check(MaxPayloadSize is >= 16 and <= 16 * 1024 * 1024, $"--max-payload-size must be 16 bytes to 16 MiB, got {MaxPayloadSize}.");
        Check(MaxRequestBodySize >= MaxPayloadSize && MaxRequestBodySize <= 64 * 1024 * 1024,
            $"--max-body-size must be at least --max-payload-size ({MaxPayloadSize}) and at most 64 MiB, got {MaxRequestBodySize}.");
        Check(MaxQueuedBytes >= MaxPayloadSize, $"--max-queued-bytes must be at least --max-payload-size ({MaxPayloadSize}), got {MaxQueuedBytes}.");
        Check(MaxQueuedMessages >= 1, $"--max-queued-messages must be at least 1, got {MaxQueuedMessages}.");
        Check(MaxSubscriptions >= 1, $"--max-subscriptions must be at least 1, got {MaxSubscriptions}.");
        Check(RateLimit >= 1, $"--rate-limit must be at least 1 message/s, got {RateLimit}.");
        Check(RateLimitBurst >= 1, $"--rate-limit-burst must be at least 1, got {RateLimitBurst}.");
        Check(CompressionThreshold >= 0, $"--compression-threshold must be 0 bytes or more, got {CompressionThreshold}.");
        Check(HistoryEvents is >= 0 and <= 10_000_000, $"--history-events must be 0-10000000, got {HistoryEvents}.");
        Check(HistoryMaxAgeSeconds is >= 1 and <= 7 * 24 * 3600, $"--history-max-age must be 1 second to 7 days, got {HistoryMaxAgeSeconds}.");
        Check(ShutdownTimeoutSeconds is >= 1 and <= 600, $"--shutdown-timeout must be 1-600 seconds, got {ShutdownTimeoutSeconds}.");
        // The value is not echoed: a webhook URL often carries its token.
        Check(string.IsNullOrWhiteSpace(WebhookUrl) || Webhooks.OccupancyWebhook.TryParseTarget(WebhookUrl, out _),
            "--webhook-url must be an absolute http:// or https:// URL, such as https://hooks.example.com/moltbeat.");
        // Without a shared engine, servers on one port would each be a deployment of their own, their clients seeing
        // only the events of the process the kernel gave them to.
        Check(!ReusePort || !string.IsNullOrWhiteSpace(Redis), "--reuse-port needs --redis: servers that share a port must share their rooms.");
        Check(!ReusePort || OperatingSystem.IsLinux(), "--reuse-port works on Linux only.");
        Check(double.IsFinite(DemoRate) && DemoRate is > 0 and <= 10_000,
            $"--demo-rate must be above 0 and at most 10000 events/s, got {DemoRate.ToString(CultureInfo.InvariantCulture)}.");
        if (errors.Count == 0)
        {
            // What the library itself refuses, in its words (a limit added there is checked here too).
            try
            {
                ApplyTo(new WSServerOptions());
                if (JwtSecret is not null)
                    _ = CreateJwtAuthenticator();
            }
            catch (ArgumentException ex)
            {
                errors.Add(ex.Message);
            }
        }
        return errors;
    }

    /// <summary>Copies these settings onto the library's options, and validates them.</summary>
    public void ApplyTo(WSServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Path = Path;
        options.HeartbeatInterval = TimeSpan.FromSeconds(HeartbeatSeconds);
        options.MaxConnections = MaxConnections;
        options.MaxMessageSize = MaxMessageSize;
        options.MaxPayloadSize = MaxPayloadSize;
        options.MaxQueuedBytes = MaxQueuedBytes;
        options.MaxQueuedMessages = MaxQueuedMessages;
        options.MaxSubscriptionsPerConnection = MaxSubscriptions;
        options.RateLimitPerSecond = RateLimit;
        options.RateLimitBurst = RateLimitBurst;
        options.Compression = Compression;
        options.CompressionThreshold = CompressionThreshold;
        // Leave a second of the shutdown budget for the host itself.
        options.CloseTimeout = TimeSpan.FromSeconds(Math.Max(1, ShutdownTimeoutSeconds - 2));
        options.History = new HistoryOptions { MaxEventsPerRoom = HistoryEvents, MaxAge = TimeSpan.FromSeconds(HistoryMaxAgeSeconds) };
        options.AllowedOrigins.Clear();
        foreach (var origin in Origins)
            options.AllowedOrigins.Add(origin);
        if (JwtSecret is not null)
            options.AuthenticateClient = CreateJwtAuthenticator().AsDelegate();
        options.Validate();
    }

    /// <summary>The JWT checker for WebSocket clients and publishers, or an exception when no secret is set.</summary>
    /// <param name="logger">Where it says why it refused a token whose claims are malformed (e.g. <c>rooms</c>).</param>
    public JwtAuthenticator CreateJwtAuthenticator(ILogger? logger = null) => new(new JwtAuthOptions
    {
        Secret = JwtSecret ?? throw new InvalidOperationException("No JWT secret configured."),
        Issuer = JwtIssuer,
        Audience = JwtAudience,
    }, logger: logger);

    private static bool IsReserved(string path)
    {
        var p = path.TrimEnd('/');
        foreach (var reserved in (string[])["/api", "/metrics", "/openapi", "/index.html"])
        {
            if (p.Equals(reserved, StringComparison.OrdinalIgnoreCase) || p.StartsWith(reserved + "/", StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return p.Length == 0;
    }
}
