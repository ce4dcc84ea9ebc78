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

    [Fact]
    public void A_conflated_replay_is_complete_once_the_announced_number_of_its_events_arrived_after_the_reply()
    {
        var catchup = new NewEpochCatchup();
        catchup.Start(Room);
        catchup.Hold(Event(offset: 6, id: 6), out _);
        // Offsets 1..6, conflated into two events (3 standing for 1-3, 5 for 4-5): 1, 2 and 4 never come.
        Assert.Empty(catchup.Replied(Room, recovered: true, offset: 6, replay: 2));
        Assert.True(catchup.Hold(Event(offset: 3, id: 3), out var released));
        Assert.Empty(released);

        Assert.True(catchup.Hold(Event(offset: 5, id: 5), out released));
        Assert.Equal([3L, 5L, 6L], released.Select(e => e.Id!.Value));
        Assert.False(catchup.IsActive);
    }

    [Fact]
    public void A_replay_is_complete_once_an_event_at_its_last_offset_arrived_after_the_reply()
    {
        var catchup = new NewEpochCatchup();
        catchup.Start(Room);
        catchup.Replied(Room, recovered: true, offset: 4, replay: 3);
        catchup.Hold(Event(offset: 2, id: 2), out _);

        // Offset 4 replaced 3: nothing of the replay can come after it.
        Assert.True(catchup.Hold(Event(offset: 4, id: 4), out var released));
        Assert.Equal([2L, 4L], released.Select(e => e.Id!.Value));
    }

    [Fact]
    public void A_live_event_past_the_replay_that_came_before_the_reply_does_not_end_it()
    {
        var catchup = new NewEpochCatchup();
        catchup.Start(Room);
        catchup.Hold(Event(offset: 5, id: 5), out _);
        Assert.Empty(catchup.Replied(Room, recovered: true, offset: 4, replay: 2));

        Assert.True(catchup.Hold(Event(offset: 2, id: 2), out var released));
        Assert.Empty(released);
        Assert.True(catchup.IsActive);
    }

    private static ReceivedEvent Event(long offset, long id, string room = Room) =>
        new("tick", default(JsonElement), room, [room], new Dictionary<string, long> { [room] = offset, ["all"] = id }, default);
}
