using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
    /// <summary>
    /// Plans the refresh of the connection's token shortly before <paramref name="expiresAt"/>: at
    /// <see cref="MoltBeatWSClientOptions.TokenRefreshMargin"/> before it, or halfway through a shorter remaining life.
    /// </summary>
    private void ScheduleTokenRefresh(Connection connection, DateTimeOffset? expiresAt)
    {
        if (Options.TokenProvider is null || expiresAt is not { } expiry)
        {
            connection.SetRefresh(null);
            return;
        }
        var remaining = expiry - _time.GetUtcNow();
        var margin = Options.TokenRefreshMargin;
        var due = remaining > margin * 2 ? remaining - margin : remaining / 2;
        if (due < TimeSpan.Zero)
            due = TimeSpan.Zero;
        connection.SetRefresh(_time.CreateTimer(static s =>
        {
            var (client, connection, expiry) = ((MoltBeatWSClient, Connection, DateTimeOffset))s!;
            _ = client.RefreshTokenAsync(connection, expiry);
        }, (this, connection, expiry), due, Timeout.InfiniteTimeSpan));
    }

    /// <summary>Gets a new token and sends it with <c>auth</c> on the open connection, so it outlives the old token.</summary>
    private async Task RefreshTokenAsync(Connection connection, DateTimeOffset currentExpiry)
    {
        try
        {
            var token = await Options.TokenProvider!(connection.Aborted).ConfigureAwait(false);
            if (string.IsNullOrEmpty(token) || token == connection.Token)
            {
                // Nothing new yet: ask again halfway to the expiry, while there is time left.
                var left = currentExpiry - _time.GetUtcNow();
                if (left > TimeSpan.FromSeconds(1))
                    ScheduleTokenRefresh(connection, currentExpiry);
                return;
            }
            var reply = await SendRequestAsync(connection, MessageTypes.Auth, null, null, token, RequestKind.Awaited, connection.Aborted).ConfigureAwait(false);
            var expiresAt = reply as DateTimeOffset? ?? TokenExpiry.FromJwt(token);
            connection.Token = token;
            lock (_gate)
                _lastToken = token;
            _logger.TokenRefreshed(expiresAt);
            ScheduleTokenRefresh(connection, expiresAt);
        }
        catch (Exception ex) when (ex is MoltBeatConnectionException || (ex is OperationCanceledException && connection.Aborted.IsCancellationRequested))
        {
            // The connection is going; the reconnect gets a fresh token anyway.
        }
        catch (Exception ex)
        {
            // A refused token (the server closes with 4001 next) or a failing provider.
            _logger.TokenRefreshFailed(ex);
            PostError(ex);
        }
    }
}
