using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MoltBeat.Server;

/// <summary>
/// The host's logger factory, except that Kestrel's own logger opens no scopes. Kestrel opens one per connection
/// (its connection id, shown only with <c>IncludeScopes</c>) and keeps it, with the execution context that carries
/// it, for the connection's whole life: about 260 bytes per idle WebSocket connection here, with the console and
/// OpenTelemetry providers. The standalone library server does the same (MoltBeatWSServer.Standalone.cs).
/// </summary>
internal sealed class WithoutConnectionScopes(ILoggerFactory inner) : ILoggerFactory
{
    private const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel";

    /// <summary>Registers it in place of the host's factory, which stays in the container (and is disposed by it).</summary>
    public static void Register(IServiceCollection services)
    {
        services.AddSingleton<LoggerFactory>();
        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(sp => new WithoutConnectionScopes(sp.GetRequiredService<LoggerFactory>())));
    }

    public ILogger CreateLogger(string categoryName) =>
        categoryName == KestrelCategory ? new Scopeless(inner.CreateLogger(categoryName)) : inner.CreateLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    // The container disposes the factory underneath.
    public void Dispose() { }

    private sealed class Scopeless(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
