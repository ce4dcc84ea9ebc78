using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>
/// The queue's claim for direct writes (pure logic): a publisher may write past the queue only when the
/// writer is parked with nothing queued, and nothing queued meanwhile may wake the writer before the claim ends.
/// </summary>
public sealed class OutgoingQueueTests
{
    [Fact]
    public void A_claim_is_refused_while_the_writer_is_busy_or_an_item_waits()
    {
        var queue = new OutgoingQueue<int>();
        Assert.False(queue.TryClaimIdle()); // the writer is not parked (it is draining)

        var wait = queue.WaitToReadAsync();
        Assert.True(queue.TryWrite(1)); // wakes the writer
        Assert.True(wait.IsCompleted);
        Assert.False(queue.TryClaimIdle()); // item 1 must go first
    }

    [Fact]
    public async Task Items_queued_during_a_claim_wake_the_writer_only_when_it_ends()
    {
        var queue = new OutgoingQueue<int>();
        var wait = queue.WaitToReadAsync();
        Assert.True(queue.TryClaimIdle());
        Assert.False(queue.TryClaimIdle()); // one claim at a time

        Assert.True(queue.TryWrite(7));
        await Task.Delay(20);
        Assert.False(wait.IsCompleted);

        queue.ReleaseClaim();
        Assert.True(await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(queue.TryRead(out var item));
        Assert.Equal(7, item);
    }

    [Fact]
    public async Task Completing_during_a_claim_ends_the_writer_after_the_claim()
    {
        var queue = new OutgoingQueue<int>();
        var wait = queue.WaitToReadAsync();
        Assert.True(queue.TryClaimIdle());
        queue.Complete();
        Assert.False(queue.TryWrite(1));
        await Task.Delay(20);
        Assert.False(wait.IsCompleted);

        queue.ReleaseClaim();
        await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(await queue.WaitToReadAsync());
        Assert.False(queue.TryClaimIdle());
    }

    [Fact]
    public async Task A_claim_released_with_nothing_queued_leaves_the_writer_parked()
    {
        var queue = new OutgoingQueue<int>();
        var wait = queue.WaitToReadAsync();
        Assert.True(queue.TryClaimIdle());
        queue.ReleaseClaim();
        await Task.Delay(20);
        Assert.False(wait.IsCompleted);
        Assert.True(queue.TryClaimIdle()); // still idle: the next event may be written directly too
        queue.ReleaseClaim();
        Assert.True(queue.TryWrite(2));
        Assert.True(await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
    }
}
