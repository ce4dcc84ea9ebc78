using MoltBeat.WebSocket.Server.Outgoing;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>The per-connection list of waiting items (pure logic): order kept across growth and partial writes.</summary>
public sealed class PendingItemsTests
{
    private static OutgoingItem Item(int n) => new([(byte)n], OutgoingKind.Message);

    [Fact]
    public void Items_come_out_oldest_first_through_growth_and_partial_removals()
    {
        var pending = default(PendingItems);
        var next = 0;
        var oldest = 0;
        for (var round = 0; round < 50; round++)
        {
            for (var i = 0; i < round % 7 + 1; i++)
                pending.Add(Item(next++ % 256));
            for (var i = 0; i < pending.Count; i++)
                Assert.Equal((oldest + i) % 256, pending[i].Message![0]);
            var written = Math.Min(pending.Count, round % 3 + 1);
            pending.RemoveFirst(written);
            oldest += written;
        }
        Assert.Equal(next - oldest, pending.Count);
    }

    [Fact]
    public void Removing_everything_leaves_it_empty_and_reusable()
    {
        var pending = default(PendingItems);
        pending.Add(Item(1));
        pending.RemoveFirst(1);
        Assert.Equal(0, pending.Count);
        for (var i = 0; i < 20; i++)
            pending.Add(Item(i));
        pending.RemoveFirst(20);
        Assert.Equal(0, pending.Count);
        pending.Add(Item(7));
        Assert.Equal(7, pending[0].Message![0]);
    }
}
