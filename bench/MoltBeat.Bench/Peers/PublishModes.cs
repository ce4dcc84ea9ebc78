namespace MoltBeat.Bench.Peers;

/// <summary>
/// How the benchmark's events reach a server, the ways users publish: <see cref="Loop"/> (an in-process
/// publisher in a tight loop, never waiting), <see cref="Awaited"/> (in-process, each publish awaited before
/// the next), <see cref="Http"/> (one <c>POST</c> per event from another process, each awaited; MoltBeat through
/// the real server application's <c>POST /api/publish</c>, the peers through a small endpoint of their own),
/// and <see cref="Redis"/> (MoltBeat only: another node on the same Redis publishes, awaited).
/// </summary>
public static class PublishModes
{
    public const string Loop = "loop";
    public const string Awaited = "awaited";
    public const string Http = "http";
    public const string Redis = "redis";

    public static readonly string[] All = [Loop, Awaited, Http, Redis];

    /// <summary>Whether <paramref name="peer"/> can be measured in <paramref name="mode"/> (no peer has a Redis backplane here).</summary>
    public static bool Supports(string peer, string mode) => mode != Redis || peer == "moltbeat";
}
