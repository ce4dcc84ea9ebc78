using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Redis.Tests;

/// <summary>How a node brings a subscribe's read from Redis forward with the events it delivered since (pure logic).</summary>
public sealed class RecentEventsTests
{
    // An event recorded in `room` at `offset` (and in `all` at `sequence`), or only in another room when offset is 0.
    private static PublishedEvent Event(long sequence, long offset, string room = "a") =>
        offset == 0 ? new([], ["other", "all"], [sequence, sequence]) : new([], [room, "all"], [offset, sequence]);

    private static RecoveryResult Read(long offset, bool? recovered, params PublishedEvent[] missed) =>
        new(new StreamPosition("e1", offset), recovered, missed);

    [Fact]
    public void Catch_up_appends_the_rooms_later_events_to_a_recovery_and_moves_its_position()
    {
        var recent = new RecentEvents(16);
        var read = Event(10, 4);
        var inRoom1 = Event(11, 5);
        var elsewhere = Event(12, 0);
        var inRoom2 = Event(13, 6);
        foreach (var e in new[] { read, inRoom1, elsewhere, inRoom2 })
            recent.Add(e);
        var earlier = Event(9, 3);

        // Read from Redis when `all` was at 10: the room at 4, with 3 and 4 missed since the client's position.
        Assert.True(recent.TryCatchUp("a", Read(4, true, earlier, read), lastCount: 0, readAt: 10, deliveredUpTo: 13, out var caughtUp));
        Assert.Equal(new StreamPosition("e1", 6), caughtUp.Position);
        Assert.Equal([earlier, read, inRoom1, inRoom2], caughtUp.Replay);

        // A plain subscribe only learns the new position; it is sent nothing from before it.
        Assert.True(recent.TryCatchUp("a", Read(4, null), lastCount: 0, readAt: 10, deliveredUpTo: 13, out var plain));
        Assert.Equal(6, plain.Position.Offset);
        Assert.Empty(plain.Replay);
    }

    [Fact]
    public void Catch_up_is_refused_when_the_node_does_not_hold_the_whole_stretch()
    {
        var recent = new RecentEvents(4);
        for (var s = 1; s <= 10; s++)
            recent.Add(Event(s, s));
        // Only 7..10 are kept: a read taken at 5 needs 6, which is gone.
        Assert.False(recent.TryCatchUp("a", Read(5, true), lastCount: 0, readAt: 5, deliveredUpTo: 10, out _));
        Assert.True(recent.TryCatchUp("a", Read(6, true), lastCount: 0, readAt: 6, deliveredUpTo: 10, out _));

        // A gap in what the node delivered (events lost to it) forgets everything before the gap.
        recent.Add(Event(13, 13));
        Assert.False(recent.TryCatchUp("a", Read(10, true), lastCount: 0, readAt: 10, deliveredUpTo: 13, out _));
        Assert.True(recent.TryCatchUp("a", Read(12, true), lastCount: 0, readAt: 12, deliveredUpTo: 13, out _));

        // Nothing past what it delivered, and nothing after a new epoch.
        Assert.False(recent.TryCatchUp("a", Read(12, true), lastCount: 0, readAt: 12, deliveredUpTo: 14, out _));
        recent.Clear();
        Assert.False(recent.TryCatchUp("a", Read(12, true), lastCount: 0, readAt: 12, deliveredUpTo: 13, out _));
    }

    [Fact]
    public void Catch_up_is_refused_when_the_rooms_offsets_do_not_continue_the_read()
    {
        var recent = new RecentEvents(16);
        recent.Add(Event(1, 1));
        recent.Add(Event(2, 3)); // offset 2 of the room is not among them
        Assert.False(recent.TryCatchUp("a", Read(1, true), lastCount: 0, readAt: 1, deliveredUpTo: 2, out var unchanged));
        Assert.Equal(1, unchanged.Position.Offset);
    }

    [Fact]
    public void Catch_up_of_a_last_read_appends_the_later_events_and_keeps_only_the_last_asked()
    {
        var recent = new RecentEvents(16);
        var e3 = Event(8, 3);
        var e4 = Event(10, 4);
        var e5 = Event(11, 5);
        var e6 = Event(13, 6);
        foreach (var e in new[] { e4, e5, Event(12, 0), e6 })
            recent.Add(e);

        // Read at `all` 10 with last 2 (no recovery asked): 3 and 4; the node delivered 5 and 6 since.
        Assert.True(recent.TryCatchUp("a", Read(4, null, e3, e4), lastCount: 2, readAt: 10, deliveredUpTo: 13, out var caughtUp));
        Assert.Equal(6, caughtUp.Position.Offset);
        Assert.Equal([e5, e6], caughtUp.Replay);

        // A recovery that failed still gets its last events brought forward.
        Assert.True(recent.TryCatchUp("a", Read(4, false, e4), lastCount: 3, readAt: 10, deliveredUpTo: 13, out var failed));
        Assert.Equal([e4, e5, e6], failed.Replay);
    }
}
