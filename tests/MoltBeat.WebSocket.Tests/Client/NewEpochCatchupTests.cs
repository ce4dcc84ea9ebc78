using System.Text.Json;
using MoltBeat.WebSocket.Client;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>The catch-up of a new epoch as pure logic: what is held, and when it is released in which order.</summary>
public sealed class NewEpochCatchupTests
{
    private const string Room = "analytics";

    [Fact]
    public void Without_a_catchup_nothing_is_held()
    {
        var catchup = new NewEpochCatchup();
        Assert.False(catchup.Hold(Event(offset: 1, id: 1), out var released));
        Assert.Empty(released);
    }

    [Fact]
    public void Live_events_wait_for_the_replay_and_everything_is_released_in_publication_order()
    {
        var catchup = new NewEpochCatchup();
        Assert.True(catchup.Start(Room));
        // A live event overtakes the catch-up reply; then the reply says the replay ends at offset 3.
        Assert.True(catchup.Hold(Event(offset: 4, id: 4), out var released));
        Assert.Empty(released);
        Assert.Empty(catchup.Replied(Room, recovered: true, offset: 3));
        Assert.True(catchup.Hold(Event(offset: 1, id: 1), out released));
        Assert.True(catchup.Hold(Event(offset: 2, id: 2), out released));
        Assert.Empty(released);
        Assert.True(catchup.IsActive);

        Assert.True(catchup.Hold(Event(offset: 3, id: 3), out released));
        Assert.Equal([1L, 2L, 3L, 4L], released.Select(e => e.Id!.Value));
        Assert.False(catchup.IsActive);
        Assert.False(catchup.Hold(Event(offset: 5, id: 5), out _));
    }

    [Fact]
    public void Replayed_events_that_arrived_before_the_reply_count_toward_it()
    {
        var catchup = new NewEpochCatchup();
        catchup.Start(Room);
        catchup.Hold(Event(offset: 1, id: 1), out _);
        catchup.Hold(Event(offset: 2, id: 2), out _);
        Assert.Equal([1L, 2L], catchup.Replied(Room, recovered: true, offset: 2).Select(e => e.Id!.Value));
    }

    [Fact]
    public void A_reply_that_could_not_recover_releases_what_was_held()
    {
        var catchup = new NewEpochCatchup();
        catchup.Start(Room);
        catchup.Hold(Event(offset: 7, id: 9), out _);
        Assert.Equal([9L], catchup.Replied(Room, recovered: false, offset: 7).Select(e => e.Id!.Value));
        Assert.False(catchup.IsActive);
    }

    [Fact]
    public void Events_are_held_until_every_rooms_replay_is_complete()
    {
        var catchup = new NewEpochCatchup();
        Assert.True(catchup.Start("a"));
        Assert.False(catchup.Start("b"));
        catchup.Replied("a", recovered: true, offset: 1);
        catchup.Replied("b", recovered: true, offset: 1);
        Assert.True(catchup.Hold(Event(offset: 1, id: 2, room: "b"), out var released));
        Assert.Empty(released);
        Assert.True(catchup.Hold(Event(offset: 1, id: 1, room: "a"), out released));
        Assert.Equal([1L, 2L], released.Select(e => e.Id!.Value));
    }

    [Fact]
    public void Ending_every_catchup_releases_the_held_events_in_order()
    {
        var catchup = new NewEpochCatchup();
        catchup.Start(Room);
        catchup.Replied(Room, recovered: true, offset: 10);
        catchup.Hold(Event(offset: 3, id: 3), out _);
        catchup.Hold(Event(offset: 1, id: 1), out _);
        Assert.Equal([1L, 3L], catchup.EndAll().Select(e => e.Id!.Value));
        Assert.False(catchup.IsActive);
    }

    [Fact]
    public void Ending_one_room_releases_nothing_while_another_is_still_replayed()
    {
        var catchup = new NewEpochCatchup();
        catchup.Start("a");
        catchup.Start("b");
        catchup.Hold(Event(offset: 1, id: 1, room: "a"), out _);
        Assert.Empty(catchup.End("a"));
        Assert.Equal([1L], catchup.End("b").Select(e => e.Id!.Value));
    }

    private static ReceivedEvent Event(long offset, long id, string room = Room) =>
        new("tick", default(JsonElement), room, [room], new Dictionary<string, long> { [room] = offset, ["all"] = id }, default);
}
