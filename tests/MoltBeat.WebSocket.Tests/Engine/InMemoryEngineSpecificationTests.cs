using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Tests.Infrastructure;
using MoltBeat.WebSocket.Tests.Specifications;

namespace MoltBeat.WebSocket.Tests.Engine;

/// <summary>The engine specification, run by the in-memory engine.</summary>
public sealed class InMemoryEngineSpecificationTests : EngineSpecification
{
    protected override Task<IMoltBeatEngine> CreateEngineAsync(HistoryOptions history) =>
        Task.FromResult<IMoltBeatEngine>(new InMemoryEngine(history, TimeProvider.System));

    protected override Task<(IMoltBeatEngine Engine, Func<Task> PassIdempotencyWindow)> CreateEngineWithPassableIdempotencyWindowAsync()
    {
        var clock = TestClock.Create();
        var engine = new InMemoryEngine(new HistoryOptions(), clock);
        Task PassWindow()
        {
            clock.Advance(ProtocolLimits.IdempotencyWindow);
            return Task.CompletedTask;
        }
        return Task.FromResult<(IMoltBeatEngine, Func<Task>)>((engine, PassWindow));
    }
}
