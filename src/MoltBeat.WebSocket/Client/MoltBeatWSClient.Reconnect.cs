using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
    /// <summary>
    /// Called once per connection when its receive loop has ended. A connection that never became current fails
    /// its connect attempt; the current one is detached, its requests fail, and the close-code table decides
    /// whether to reconnect.
    /// </summary>
    private void ConnectionEnded(Connection connection, int? closeCode, string? closeReason, Exception? error)
    {
        List<PendingRequest> orphans;
        bool willReconnect;
        int unstable;
        CancellationTokenSource? session;
        var advice = CloseCodes.AdviceFor(closeCode);
        lock (_gate)
        {
            // 4001 or 4003: the server refused (or revoked) this token; it is never sent again.
            if (advice == ReconnectAdvice.NewTokenRequired && closeCode is { } refusedWith && !string.IsNullOrEmpty(connection.Token))
                RememberRefusedLocked(connection.Token, refusedWith);
            if (_connection != connection)
            {
                // Never attached (the connect attempt learns why), or detached by DisconnectAsync already.
                connection.Ready.TrySetException(closeCode is { } code
                    ? new MoltBeatConnectionException($"The server closed the connection with {code} {closeReason} before it was ready.", code, closeReason, null, error)
                    : new MoltBeatConnectionException("The connection ended before the server sent 'connected'.", error));
                return;
            }
            _connection = null;
            orphans = TakeAllPendingLocked(connection);
            // A connection that did not outlast the longest backoff counts as a failed attempt (see MoltBeatRetryContext).
            _unstableConnections = _time.GetElapsedTime(connection.AttachedAt) < Options.MaxReconnectDelay ? _unstableConnections + 1 : 0;
            unstable = _unstableConnections;
            session = _session;
            willReconnect = Options.AutoReconnect && session is not null && advice switch
            {
                ReconnectAdvice.DoNotReconnect => false,
                // 4001, 4003: only with a token provider, which may yield a new token (checked before reconnecting).
                ReconnectAdvice.NewTokenRequired => Options.TokenProvider is not null,
                _ => true,
            };
            if (willReconnect)
            {
                TryTransition(MoltBeatWSClientState.Connected, MoltBeatWSClientState.Reconnecting);
            }
            else
            {
                _session = null;
                TryTransition(MoltBeatWSClientState.Connected, MoltBeatWSClientState.Disconnected);
            }
            var args = new MoltBeatDisconnectedEventArgs(closeCode, closeReason ?? connection.AbortReason, error, willReconnect);
            Post(() => Disconnected?.Invoke(this, args));
        }
        _logger.ConnectionLost(error, closeCode, closeReason, willReconnect);
        FailPending(orphans, new MoltBeatConnectionException("The connection was lost before the server replied.", closeCode, closeReason, null, error));
        if (willReconnect)
        {
            _ = ReconnectLoopAsync(session!, closeCode, advice, unstable);
        }
        else
        {
            _logger.NotReconnecting(closeCode, closeReason);
            session?.Cancel();
        }
    }

    /// <summary>
    /// Reconnects with the retry policy's delays until a connection is attached, the policy gives up, the token is
    /// refused without a new one, or <see cref="DisconnectAsync"/> ends the session.
    /// </summary>
    private async Task ReconnectLoopAsync(CancellationTokenSource session, int? closeCode, ReconnectAdvice advice, int unstableConnections)
    {
        var token = session.Token;
        var started = _time.GetTimestamp();
        // Attempts since the last stable connection: a connection that dropped right away was one.
        var attempts = Math.Max(0, unstableConnections - 1);
        Exception? lastError = null;
        // 4009 (slow consumer) and a fresh token after 4001 reconnect at once, unless that already failed to
        // help (the previous connection dropped right away too); the rest wait for the backoff.
        var immediate = advice is ReconnectAdvice.ReconnectNow && attempts == 0;
        try
        {
            if (advice == ReconnectAdvice.NewTokenRequired)
            {
                if (!await HasNewTokenAsync(token).ConfigureAwait(false))
                {
                    GiveUp(session, attempts, new MoltBeatConnectionException(NoNewTokenMessage(closeCode), closeCode, null, null));
                    return;
                }
                immediate = attempts == 0;
            }
            while (true)
            {
                var delay = _retryPolicy.NextRetryDelay(new MoltBeatRetryContext(attempts, _time.GetElapsedTime(started), closeCode));
                if (delay is null)
                {
                    GiveUp(session, attempts, lastError);
                    return;
                }
                if (immediate)
                    delay = TimeSpan.Zero;
                immediate = false;
                _logger.ReconnectScheduled(attempts + 1, delay.Value);
                var reconnecting = new MoltBeatReconnectingEventArgs(attempts + 1, delay.Value, closeCode);
                Post(() => Reconnecting?.Invoke(this, reconnecting));
                if (delay.Value > TimeSpan.Zero)
                    await Task.Delay(delay.Value, _time, token).ConfigureAwait(false);
                attempts++;
                try
                {
                    await OpenAsync(isReconnect: true, session, CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                catch (MoltBeatConnectionException ex)
                {
                    lastError = ex;
                    _logger.ReconnectAttemptFailed(ex, attempts);
                    switch (CloseCodes.AdviceFor(ex.CloseCode))
                    {
                        case ReconnectAdvice.NewTokenRequired when ex.CloseCode is not null:
                            if (!await HasNewTokenAsync(token).ConfigureAwait(false))
                            {
                                GiveUp(session, attempts, ex);
                                return;
                            }
                            immediate = true;
                            break;
                        case ReconnectAdvice.DoNotReconnect when ex.CloseCode is not null:
                            GiveUp(session, attempts, ex);
                            return;
                        case ReconnectAdvice.ReconnectNow:
                            immediate = true;
                            break;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // DisconnectAsync ended the session; it raised what there was to raise.
        }
        catch (Exception ex)
        {
            // The token provider threw, or something unforeseen: stop rather than spin.
            GiveUp(session, attempts, ex);
        }
    }

    /// <summary>Whether the token provider yields a token other than those the server refused.</summary>
    private async Task<bool> HasNewTokenAsync(CancellationToken cancellationToken)
    {
        if (Options.TokenProvider is not { } provider)
            return false;
        var token = await provider(cancellationToken).ConfigureAwait(false);
        lock (_gate)
            return !string.IsNullOrEmpty(token) && token != _lastToken && RefusedWithLocked(token) is null;
    }

    /// <summary>The close code with which the server refused <paramref name="token"/> (4001, 4003), or null.</summary>
    private int? RefusedWithLocked(string? token)
    {
        foreach (var (refused, code) in _refusedTokens)
        {
            if (refused == token)
                return code;
        }
        return null;
    }

    private void RememberRefusedLocked(string token, int closeCode)
    {
        if (RefusedWithLocked(token) is not null)
            return;
        // A few are enough to stop a provider that hands back a stale token; they are refused tokens, worthless to keep longer.
        if (_refusedTokens.Count == 8)
            _refusedTokens.RemoveAt(0);
        _refusedTokens.Add((token, closeCode));
    }

    private static string NoNewTokenMessage(int? closeCode) => closeCode == CloseCodes.Revoked.Code
        ? "The server revoked the token (4003) and the token provider gave no new one (it returned the revoked token, or none): not reconnecting with it."
        : $"The server refused the token ({closeCode}) and the token provider gave no new one.";

    private void GiveUp(CancellationTokenSource session, int attempts, Exception? lastError)
    {
        lock (_gate)
        {
            if (_session != session)
                return; // DisconnectAsync got there first
            _session = null;
            TryTransition(MoltBeatWSClientState.Reconnecting, MoltBeatWSClientState.Disconnected);
            var args = new MoltBeatReconnectFailedEventArgs(attempts, lastError);
            Post(() => ReconnectFailed?.Invoke(this, args));
        }
        _logger.ReconnectGaveUp(lastError, attempts);
        session.Cancel();
    }
}
