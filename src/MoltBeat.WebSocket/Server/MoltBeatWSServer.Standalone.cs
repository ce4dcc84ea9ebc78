using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MoltBeat.WebSocket.Server;

public sealed partial class MoltBeatWSServer
{
    private WebApplication? _standalone;

    /// <summary>The addresses the standalone server listens on, once started.</summary>
    public IReadOnlyList<Uri> Urls { get; private set; } = [];

    /// <summary>
    /// Starts a standalone server on <see cref="WSServerOptions.Host"/>:<see cref="WSServerOptions.Port"/>
    /// serving WebSocket clients on <see cref="WSServerOptions.Path"/> (the seed's <c>port</c> option).
    /// To serve other HTTP routes too, host the server in your app with <c>MapMoltBeatWebSocket</c> instead.
    /// </summary>
    /// <exception cref="InvalidOperationException">It was started already.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_standalone is not null)
            throw new InvalidOperationException("The server is started already.");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSingleton<ILoggerFactory>(new WithoutRequestUrls(LoggerFactory));
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            if (Options.Host == "localhost")
                kestrel.ListenLocalhost(Options.Port);
            else
                kestrel.Listen(IPAddress.Parse(Options.Host), Options.Port);
        });
        var app = builder.Build();
        app.Map(Options.Path, HandleAsync);
        await _engineStarted.Value.ConfigureAwait(false);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _standalone = app;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        Urls = [.. addresses.Select(a => new Uri(a))];
        foreach (var url in Urls)
            Logger.Listening(new Uri(url, Options.Path).ToString().Replace("http", "ws", StringComparison.Ordinal));
    }

    /// <summary>
    /// The user's logger factory minus ASP.NET Core's request logs ("Request starting GET /ws?token=..."), whose
    /// URL carries the query string and so a client's token: tokens are never logged.
    /// </summary>
    private sealed class WithoutRequestUrls(ILoggerFactory inner) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) =>
            categoryName.StartsWith("Microsoft.AspNetCore.Hosting.Diagnostics", StringComparison.Ordinal)
                ? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance
                : inner.CreateLogger(categoryName);

        public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

        // The user's factory is the user's to dispose.
        public void Dispose() { }
    }

    private async Task StopStandaloneAsync()
    {
        if (Interlocked.Exchange(ref _standalone, null) is { } app)
        {
            await app.StopAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
