using System.Net;
using MoltBeat.Server;
using MoltBeat.WebSocket.Auth;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(CommandLine.Help);
    return 0;
}
if (CommandLine.FindUnknown(args) is { } unknown)
{
    await Console.Error.WriteLineAsync($"Unknown option {unknown}. Run with --help for the list.");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = CommandLine.Normalize(args), WebRootPath = "wwwroot" });
builder.Configuration.AddCommandLine(CommandLine.Normalize(args), CommandLine.Switches);
var settings = builder.Configuration.GetSection("MoltBeat").Get<ServerSettings>() ?? new ServerSettings();
try
{
    settings.Validate();
}
catch (ArgumentException ex)
{
    await Console.Error.WriteLineAsync($"Invalid configuration: {ex.Message}");
    return 2;
}

if (builder.Configuration["urls"] is null)
{
    builder.WebHost.ConfigureKestrel(k =>
    {
        if (settings.Host == "localhost")
            k.ListenLocalhost(settings.Port);
        else
            k.Listen(IPAddress.Parse(settings.Host), settings.Port);
    });
}

builder.Services.AddMoltBeatWebSocket(o =>
{
    o.HeartbeatInterval = TimeSpan.FromSeconds(settings.HeartbeatSeconds);
    if (settings.JwtSecret is { } secret)
    {
        o.AuthenticateClient = new JwtAuthenticator(new JwtAuthOptions
        {
            Secret = secret,
            Issuer = settings.JwtIssuer,
            Audience = settings.JwtAudience,
        }).AsDelegate();
    }
    foreach (var origin in (settings.AllowedOrigins ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        o.AllowedOrigins.Add(origin);
});
builder.Services.AddSingleton(settings);
if (settings.Demo)
    builder.Services.AddHostedService<DemoFeed>();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver()));

var app = builder.Build();
app.UseDefaultFiles();
app.UseStaticFiles();
app.MapMoltBeatWebSocket(settings.Path);
app.MapPublishApi();

app.Lifetime.ApplicationStarted.Register(() =>
{
    foreach (var url in app.Urls)
    {
        var http = url.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal);
        StartupLog.Ready(app.Logger, http, http.Replace("http", "ws", StringComparison.Ordinal) + settings.Path, settings.Demo ? "on" : "off");
    }
});

await app.RunAsync();
return 0;
