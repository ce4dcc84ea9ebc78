using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Scale-out through Redis: <c>services.AddMoltBeatWebSocket(...).AddRedisEngine("127.0.0.1:6379")</c>.</summary>
public static class MoltBeatRedisBuilderExtensions
{
    /// <summary>
    /// Replaces the in-memory engine with a <see cref="RedisEngine"/> on <paramref name="configuration"/>
    /// (a StackExchange.Redis configuration string such as <c>127.0.0.1:6379</c>), keeping the server's
    /// history bounds.
    /// </summary>
    /// <exception cref="ArgumentException">The configuration string is empty.</exception>
    public static MoltBeatBuilder AddRedisEngine(this MoltBeatBuilder builder, string configuration)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        return builder.AddRedisEngine(options => options.Configuration = configuration);
    }

    /// <summary>
    /// Replaces the in-memory engine with a <see cref="RedisEngine"/> configured by <paramref name="configure"/>.
    /// History bounds left null are the server's (its options' <c>History</c>, registered as <see cref="HistoryOptions"/>).
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static MoltBeatBuilder AddRedisEngine(this MoltBeatBuilder builder, Action<RedisEngineOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new RedisEngineOptions();
        configure(options);
        options.Validate();
        builder.Services.RemoveAll<IMoltBeatEngine>();
        builder.Services.AddSingleton<IMoltBeatEngine>(sp => new RedisEngine(
            options,
            sp.GetService<ILoggerFactory>(),
            sp.GetService<HistoryOptions>()));
        return builder;
    }
}
