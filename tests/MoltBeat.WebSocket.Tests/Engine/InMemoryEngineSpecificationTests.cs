using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Tests.Specifications;

namespace MoltBeat.WebSocket.Tests.Engine;

/// <summary>The engine specification, run by the in-memory engine.</summary>
public sealed class InMemoryEngineSpecificationTests : EngineSpecification
{
    protected override Task<IMoltBeatEngine> CreateEngineAsync(HistoryOptions history) =>
        Task.FromResult<IMoltBeatEngine>(new InMemoryEngine(history, TimeProvider.System));
}
