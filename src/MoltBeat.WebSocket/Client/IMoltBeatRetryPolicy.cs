namespace MoltBeat.WebSocket.Client;

/// <summary>What a retry policy knows when it decides the next reconnect delay.</summary>
/// <param name="PreviousAttempts">
/// Reconnect attempts since the client last had a stable connection (0 before the first). A connection that
/// drops sooner than <see cref="MoltBeatWSClientOptions.MaxReconnectDelay"/> after it was established counts as a
/// failed attempt, so that a server that accepts and drops at once meets a growing backoff rather than a storm.
/// </param>
/// <param name="Elapsed">Time since the connection was lost.</param>
/// <param name="CloseCode">The close code that ended the connection; null when it broke without one.</param>
public readonly record struct MoltBeatRetryContext(int PreviousAttempts, TimeSpan Elapsed, int? CloseCode);

/// <summary>Decides how long to wait before each reconnect attempt, and when to give up.</summary>
public interface IMoltBeatRetryPolicy
{
    /// <summary>The delay before the next attempt, or null to stop reconnecting (the client raises <see cref="MoltBeatWSClient.ReconnectFailed"/>).</summary>
    TimeSpan? NextRetryDelay(MoltBeatRetryContext context);
}

/// <summary>
/// Exponential backoff with full jitter (protocol.md, "Close codes"): attempt n waits a uniformly random time in
/// [0, min(initial × 2ⁿ, max)], so that thousands of clients dropped at once by a restart do not return at once.
/// After a rate-limit close (4008) the exponent starts three steps higher.
/// </summary>
public sealed class ExponentialBackoffRetryPolicy : IMoltBeatRetryPolicy
{
    private const int RateLimitedExtraSteps = 3;
    private readonly Lock _randomLock = new();
    private readonly Random _random;

    /// <summary>Creates the policy.</summary>
    /// <param name="initialDelay">The bound of the first delay.</param>
    /// <param name="maxDelay">The cap of every delay.</param>
    /// <param name="maxAttempts">Attempts before giving up.</param>
    /// <param name="random">The jitter source; <see cref="Random.Shared"/> when null (pass a seeded one in tests).</param>
    public ExponentialBackoffRetryPolicy(TimeSpan initialDelay, TimeSpan maxDelay, int maxAttempts, Random? random = null)
    {
        if (initialDelay <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(initialDelay), initialDelay, "The initial delay must be positive.");
        if (maxDelay < initialDelay)
            throw new ArgumentOutOfRangeException(nameof(maxDelay), maxDelay, "The maximum delay must be at least the initial delay.");
        ArgumentOutOfRangeException.ThrowIfNegative(maxAttempts);
        InitialDelay = initialDelay;
        MaxDelay = maxDelay;
        MaxAttempts = maxAttempts;
        _random = random ?? Random.Shared;
    }

    /// <summary>The bound of the first delay.</summary>
    public TimeSpan InitialDelay { get; }

    /// <summary>The cap of every delay.</summary>
    public TimeSpan MaxDelay { get; }

    /// <summary>Attempts before giving up.</summary>
    public int MaxAttempts { get; }

    /// <summary>The upper bound of the delay before attempt <paramref name="previousAttempts"/> + 1 (before jitter).</summary>
    public TimeSpan DelayBound(int previousAttempts, int? closeCode = null)
    {
        var exponent = Math.Max(0, previousAttempts) + (closeCode == 4008 ? RateLimitedExtraSteps : 0);
        // 2^exponent overflows quickly; past 2^30 the cap applies anyway.
        var bound = InitialDelay.Ticks * Math.Pow(2, Math.Min(exponent, 30));
        return bound >= MaxDelay.Ticks ? MaxDelay : TimeSpan.FromTicks((long)bound);
    }

    /// <inheritdoc />
    public TimeSpan? NextRetryDelay(MoltBeatRetryContext context)
    {
        if (context.PreviousAttempts >= MaxAttempts)
            return null;
        var bound = DelayBound(context.PreviousAttempts, context.CloseCode);
        double sample;
        lock (_randomLock) // a seeded Random is not thread-safe
            sample = _random.NextDouble();
        return TimeSpan.FromTicks((long)(bound.Ticks * sample));
    }
}
