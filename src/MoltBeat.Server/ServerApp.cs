using System.Diagnostics.Metrics;
using System.Net;
using MoltBeat.Server.Webhooks;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Server;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace MoltBeat.Server;

/// <summary>
/// The runnable server: reads and checks the configuration, then serves the WebSocket endpoint, the
/// HTTP API, metrics and the dashboard until SIGTERM or Ctrl-C. Exit codes: 0 after a clean shutdown,
/// 2 for bad configuration (nothing was started), 1 when the server could not start (e.g. port in use).
/// </summary>
public static class ServerApp
{
    /// <summary>Exit code for configuration the server refuses.</summary>
    public const int BadConfiguration = 2;

    /// <summary>Exit code for a server that could not start.</summary>
    public const int StartFailed = 1;

    /// <summary>Runs the server with command-line <paramref name="args"/>; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(CommandLine.Help);
            return 0;
        }
        if (CommandLine.FindError(args) is { } error)
            return await RefuseAsync([error]);

        var normalized = CommandLine.Normalize(args);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = normalized,
            // appsettings.json and wwwroot/ are next to the dll, so the server runs from any directory.
            ContentRootPath = args.Any(a => a.StartsWith("--contentRoot", StringComparison.Ordinal)) ? null : AppContext.BaseDirectory,
        });
        builder.Configuration.AddCommandLine(normalized, CommandLine.Switches);

        ServerSettings settings;
        try
        {
            settings = builder.Configuration.GetSection("MoltBeat").Get<ServerSettings>(o => o.ErrorOnUnknownConfiguration = true) ?? new ServerSettings();
        }
        catch (InvalidOperationException ex)
        {
            // e.g. MoltBeat__Port=abc, or a misspelt key in appsettings.json
            return await RefuseAsync([ex.Message + (ex.InnerException is { } inner ? " " + inner.Message : "")]);
        }
        if (settings.Validate() is { Count: > 0 } errors)
            return await RefuseAsync(errors);

        Configure(builder, settings);
        await using var app = builder.Build();
        // The options were set before the host had loggers; the JWT checker gets one now, to say why it
        // refuses a token with malformed claims (a bad `rooms` claim is a 4001 with that log line).
        if (settings.JwtSecret is not null)
            app.Services.GetRequiredService<WSServerOptions>().AuthenticateClient = settings.CreateJwtAuthenticator(app.Services.GetRequiredService<ILogger<JwtAuthenticator>>()).AsDelegate();
        MapEndpoints(app, settings);

        try
        {
            await app.StartAsync();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // e.g. the port is in use: say so in one line, and exit without serving anything.
            app.Logger.StartFailed(ex.GetBaseException().Message);
            await Console.Error.WriteLineAsync($"The server could not start: {ex.GetBaseException().Message}");
            return StartFailed;
        }
        await app.WaitForShutdownAsync();
        app.Logger.Stopped();
        return 0;
    }

    private static async Task<int> RefuseAsync(IReadOnlyList<string> errors)
    {
        foreach (var error in errors)
            await Console.Error.WriteLineAsync("Invalid configuration: " + error);
        await Console.Error.WriteLineAsync("The server did not start. Run with --help for the options.");
        return BadConfiguration;
    }

    private static void Configure(WebApplicationBuilder builder, ServerSettings settings)
    {
        var hasUrls = builder.Configuration["urls"] is { Length: > 0 };
        var hasEndpoints = builder.Configuration.GetSection("Kestrel:Endpoints").GetChildren().Any();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = settings.MaxRequestBodySize;
            k.AddServerHeader = false;
            // WebSocket clients on raw connections (the fast path, as the standalone server), HTTP for the rest.
            k.ConfigureEndpointDefaults(listen => listen.UseMoltBeatWebSocket());
            if (hasUrls || hasEndpoints)
                return; // --urls, ASPNETCORE_URLS or Kestrel:Endpoints (TLS) decide where to listen
            if (settings.Host == "localhost")
                k.ListenLocalhost(settings.Port);
            else
                k.Listen(IPAddress.Parse(settings.Host), settings.Port);
        });
        if (settings.ReusePort)
            builder.WebHost.UseSockets(o => o.UseReusePort());
        WithoutConnectionScopes.Register(builder.Services);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(settings.ShutdownTimeoutSeconds));

        var moltbeat = builder.Services.AddMoltBeatWebSocket(settings.ApplyTo);
        if (!string.IsNullOrWhiteSpace(settings.Redis))
        {
            moltbeat.AddRedisEngine(o =>
            {
                o.Configuration = settings.Redis;
                o.KeyPrefix = settings.RedisPrefix;
            });
        }
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<PublishAuth>();
        builder.Services.AddMoltBeatHealthChecks();
        builder.Services.AddSingleton<DeliveryLatencyWindow>();
        if (settings.Demo)
            builder.Services.AddHostedService<DemoFeed>();
        if (OccupancyWebhook.TryParseTarget(settings.WebhookUrl, out var webhookUrl))
        {
            // A singleton of the container, so disposed with it when the server stops (a drain of at most 2 s).
            builder.Services.AddSingleton(sp => new OccupancyWebhook(webhookUrl, new OccupancyWebhookOptions(),
                sp.GetRequiredService<ILogger<OccupancyWebhook>>(), sp.GetService<IMeterFactory>()));
        }

        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "MoltBeat server API";
            document.Info.Description = "Publish events to WebSocket subscribers over HTTP; health and statistics. " +
                "WebSocket clients connect to " + settings.Path + " (see docs/protocol.md).";
            document.Components ??= new Microsoft.OpenApi.OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, Microsoft.OpenApi.IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["ApiKey"] = new Microsoft.OpenApi.OpenApiSecurityScheme
            {
                Type = Microsoft.OpenApi.SecuritySchemeType.ApiKey,
                Name = "X-Api-Key",
                In = Microsoft.OpenApi.ParameterLocation.Header,
                Description = "The server's --api-key.",
            };
            document.Components.SecuritySchemes["Bearer"] = new Microsoft.OpenApi.OpenApiSecurityScheme
            {
                Type = Microsoft.OpenApi.SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "JWT",
                Description = "A JWT signed with the server's --jwt-secret whose scope holds 'publish'.",
            };
            return Task.CompletedTask;
        }));
        var telemetry = builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(MoltBeatMetrics.MeterName, OccupancyWebhook.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime")
            .AddPrometheusExporter());
        // Traces go out by OTLP when a collector is configured the standard way (OTEL_EXPORTER_OTLP_ENDPOINT, and
        // OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_PROTOCOL...): the HTTP request's span (which continues a traceparent
        // sent with POST /api/publish), the publish span under it, and each node's delivery span.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            telemetry.WithTracing(t => t.AddSource(MoltBeatTracing.SourceName, "Microsoft.AspNetCore").AddOtlpExporter());
    }

    private static void MapEndpoints(WebApplication app, ServerSettings settings)
    {
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapMoltBeatWebSocket(settings.Path);
        app.MapPublishApi();
        // Created now, so that it listens from the first delivery on.
        _ = app.Services.GetRequiredService<DeliveryLatencyWindow>();
        ConnectOccupancyWebhook(app);
        app.MapOperationsApi();
        app.MapRoomsApi();
        app.MapOpenApi();
        app.MapPrometheusScrapingEndpoint();

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            foreach (var url in app.Urls)
            {
                var http = url.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "[::1]", StringComparison.Ordinal);
                app.Logger.Ready(http, http.Replace("http", "ws", StringComparison.Ordinal) + settings.Path, settings.Demo ? "on" : "off");
            }
            if (!settings.PublishRequiresAuth && !app.Urls.All(IsLoopback))
                app.Logger.OpenPublishApi();
        });
        app.Lifetime.ApplicationStopping.Register(() => app.Logger.Stopping());
    }

    /// <summary>
    /// The one place the occupancy webhook (<c>--webhook-url</c>) meets the server: nothing to do without one. The
    /// sender is created here, before the server listens, and names this node <c>host:port</c> (as
    /// <c>/api/operations</c> does) once it listens.
    /// </summary>
    private static void ConnectOccupancyWebhook(WebApplication app)
    {
        if (app.Services.GetService<OccupancyWebhook>() is not { } webhook)
            return;
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            if (app.Urls.Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) ? uri : null).FirstOrDefault(u => u is not null) is { } url)
                webhook.Node = $"{Environment.MachineName}:{url.Port}";
        });
        // Handlers start occupancy tracking on this node; each transition is raised on one node of the cluster, which is
        // why every node needs the same --webhook-url. TryEnqueue never blocks nor throws: safe in the handler.
        var server = app.Services.GetRequiredService<MoltBeatWSServer>();
        server.RoomOccupied += (_, e) => webhook.TryEnqueue(new RoomOccupancyNotice(RoomOccupancyKind.Occupied, e.Room, e.At));
        server.RoomVacated += (_, e) => webhook.TryEnqueue(new RoomOccupancyNotice(RoomOccupancyKind.Vacated, e.Room, e.At));
    }

    private static bool IsLoopback(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip)));
}
