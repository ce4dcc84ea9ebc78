using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Tests.Engine;

/// <summary>The in-memory engine's idempotency window, to the tick of its clock, and the bound on what it remembers.</summary>
public sealed class InMemoryIdempotencyTests
{
    private sealed class CountingSink : IEventSink
    {
        public int Delivered;

        public void Deliver(PublishedEvent published) => Interlocked.Increment(ref Delivered);

        public int Connections => 0;

        public int Subscribers(string room) => 0;

        public (IReadOnlyList<UserPresence> Users, int Anonymous) Presence(string room) => ([], 0);

        public IReadOnlyCollection<string> TakeChangedRooms(bool all) => [];

        public void Control(EngineControl control)
        {
        }
    }

    private static PublishRequest Request(string room, string? key) =>
        new([room], [room, "all"], "e", "1"u8.ToArray(), 0) { IdempotencyKey = key };

    [Fact]
    public async Task An_idempotency_key_holds_until_the_end_of_its_window_by_the_engines_clock()
    {
        var clock = TestClock.Create();
        await using var engine = new InMemoryEngine(new HistoryOptions(), clock);
        var sink = new CountingSink();
        await engine.StartAsync(sink, CancellationToken.None);
        var first = await engine.PublishAsync(Request("room", "k"), CancellationToken.None);

        clock.Advance(ProtocolLimits.IdempotencyWindow - TimeSpan.FromMilliseconds(1));
        var late = await engine.PublishAsync(Request("room", "k"), CancellationToken.None);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        var after = await engine.PublishAsync(Request("room", "k"), CancellationToken.None);

        Assert.True(late.Duplicate);
        Assert.Equal(first.Offsets, late.Offsets);
        Assert.False(after.Duplicate);
        Assert.Equal(2, after.OffsetIn("room"));
        Assert.Equal(2, sink.Delivered);
    }

    [Fact]
    public async Task Keys_past_their_window_are_forgotten_by_the_next_publish_or_the_trim()
    {
        var clock = TestClock.Create();
        await using var engine = new InMemoryEngine(new HistoryOptions(), clock);
        await engine.StartAsync(new CountingSink(), CancellationToken.None);
        for (var i = 0; i < 100; i++)
            await engine.PublishAsync(Request("room", $"k{i}"), CancellationToken.None);
        Assert.Equal(100, engine.IdempotencyKeyCount);

        clock.Advance(ProtocolLimits.IdempotencyWindow);
        await engine.PublishAsync(Request("room", null), CancellationToken.None);
        Assert.Equal(0, engine.IdempotencyKeyCount);

        await engine.PublishAsync(Request("room", "late"), CancellationToken.None);
        clock.Advance(ProtocolLimits.IdempotencyWindow);
        engine.TrimExpired();
        Assert.Equal(0, engine.IdempotencyKeyCount);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(ProtocolLimits.MaxKeyLength + 1)]
    public void A_request_refuses_an_empty_or_too_long_idempotency_key(int length) =>
        Assert.Throws<ArgumentException>(() => Request("room", new string('k', length)));
}
