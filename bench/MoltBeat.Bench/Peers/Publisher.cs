namespace MoltBeat.Bench.Peers;

/// <summary>
/// How a peer publishes one benchmark event (its JSON payload), each in its own best way: <see cref="Loop"/>
/// is its fire-and-forget broadcast, <see cref="Awaited"/> its awaitable one. The publish modes of the
/// benchmark (<see cref="PublishModes"/>) call one or the other: <c>loop</c> calls <see cref="Loop"/> back to
/// back; <c>awaited</c> awaits <see cref="Awaited"/> before the next event; <c>http</c> is the harness's
/// <c>POST</c> per event, which the peer's endpoint answers once <see cref="Awaited"/> has completed.
/// Both take the event's conflation key too (null for none; the conflation scenario's events have one), which
/// only MoltBeat understands: the peers publish the payload alone.
/// </summary>
/// <param name="Loop">Publishes without waiting for anything.</param>
/// <param name="Awaited">Publishes and completes when the peer's broadcast call has completed.</param>
internal sealed record Publisher(Action<string, string?> Loop, Func<string, string?, Task> Awaited)
{
    /// <summary>The call for in-process <paramref name="mode"/> (<c>loop</c> or <c>awaited</c>).</summary>
    public Func<string, string?, ValueTask> For(string mode) => mode switch
    {
        PublishModes.Loop => LoopCall,
        PublishModes.Awaited => (json, key) => new ValueTask(Awaited(json, key)),
        _ => throw new ArgumentException($"'{mode}' is not an in-process publish mode ({PublishModes.Loop}, {PublishModes.Awaited})"),
    };

    private ValueTask LoopCall(string json, string? key)
    {
        Loop(json, key);
        return ValueTask.CompletedTask;
    }
}
