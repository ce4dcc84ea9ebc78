using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Tests.Hosting;

/// <summary><c>AddMoltBeatHealthChecks</c> in an application that hosts the library, over real HTTP.</summary>
public sealed class HealthCheckTests
{
    /// <summary>An engine whose health the test sets; everything else is the in-memory engine's.</summary>
    private sealed class SwitchableEngine : IMoltBeatEngine
    {
        private readonly InMemoryEngine _inner = new(new HistoryOptions());

        public volatile bool Healthy = true;

        public Task StartAsync(IEventSink sink, CancellationToken cancellationToken) => _inner.StartAsync(sink, cancellationToken);

        public ValueTask<PublishedEvent> PublishAsync(PublishRequest request, CancellationToken cancellationToken) => _inner.PublishAsync(request, cancellationToken);

        public ValueTask BroadcastToAllAsync(PublishedEvent published, CancellationToken cancellationToken) => _inner.BroadcastToAllAsync(published, cancellationToken);

        public ValueTask SubscribeAsync(string room, ReplayRequest replay, Action<RecoveryResult> attach, CancellationToken cancellationToken) =>
            _inner.SubscribeAsync(room, replay, attach, cancellationToken);

        public ValueTask<RecoveryResult> ReadHistoryAsync(string room, ReplayRequest request, CancellationToken cancellationToken) =>
            _inner.ReadHistoryAsync(room, request, cancellationToken);

        public ValueTask PublishControlAsync(EngineControl control, CancellationToken cancellationToken) => _inner.PublishControlAsync(control, cancellationToken);

        public ValueTask<DateTimeOffset?> GetRevocationAsync(string userId, CancellationToken cancellationToken) => _inner.GetRevocationAsync(userId, cancellationToken);

        public ValueTask<StreamPosition> GetPositionAsync(string room, CancellationToken cancellationToken) => _inner.GetPositionAsync(room, cancellationToken);

        public ValueTask<long> GetSubscribersAsync(string room, CancellationToken cancellationToken) => _inner.GetSubscribersAsync(room, cancellationToken);

        public ValueTask<bool> MarkOccupiedAsync(string room, CancellationToken cancellationToken) => _inner.MarkOccupiedAsync(room, cancellationToken);

        public ValueTask<IReadOnlyList<string>> TakeVacatedAsync(TimeSpan debounce, CancellationToken cancellationToken) => _inner.TakeVacatedAsync(debounce, cancellationToken);

        public ValueTask<RoomPresence> GetPresenceAsync(string room, int maxUsers, CancellationToken cancellationToken) => _inner.GetPresenceAsync(room, maxUsers, cancellationToken);

        public ValueTask<IReadOnlyList<NodeInfo>> GetNodesAsync(CancellationToken cancellationToken) => _inner.GetNodesAsync(cancellationToken);

        public EngineStats GetStats() => _inner.GetStats() with { Healthy = Healthy };

        public ValueTask DisposeAsync() => _inner.DisposeAsync();
    }

    [Fact]
    public async Task The_health_check_follows_the_engine_and_the_shutdown()
    {
        var engine = new SwitchableEngine();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton<IMoltBeatEngine>(engine);
        builder.Services.AddMoltBeatWebSocket();
        builder.Services.AddMoltBeatHealthChecks();
        await using var web = builder.Build();
        web.MapHealthChecks("/health");
        await web.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(web.Urls.First()), Timeout = TimeSpan.FromSeconds(10) };

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
        engine.Healthy = false;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health")).StatusCode);
        engine.Healthy = true;
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
        await web.Services.GetRequiredService<MoltBeatWSServer>().CloseAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health")).StatusCode);
        await web.StopAsync();
    }
}
