using Microsoft.Extensions.Logging;
using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// This node's side of revocation (protocol 1.1): applies the operators' controls the engine delivers to the
/// node's connections, and remembers the revocations it heard of, so that a token issued before one is refused
/// at once, without asking the engine. The engine's own store (<see cref="IMoltBeatEngine.GetRevocationAsync"/>)
/// is what a node that never heard of a revocation reads (<c>ClientConnection.IsRevokedAsync</c>).
/// </summary>
/// <remarks>
/// One lock orders a revocation against an authentication that passes at the same moment: the control records
/// the revocation under it before it looks for the user's connections, and a connection that has just become
/// that user's checks under it after it took the user (<c>ClientConnection.BecomeReady</c>). Either the control
/// sees the connection and closes it, or the connection sees the revocation and refuses itself.
/// </remarks>
internal sealed class Revocations(TimeProvider time, ILogger logger)
{
    private readonly Lock _sync = new();
    private readonly Dictionary<string, DateTimeOffset> _revoked = new(StringComparer.Ordinal);
    private DateTimeOffset _purged;

    /// <summary>Applies <paramref name="control"/> to this node's <paramref name="connections"/>.</summary>
    public void Apply(EngineControl control, IEnumerable<ClientConnection> connections)
    {
        ArgumentNullException.ThrowIfNull(control);
        var count = 0;
        switch (control.Kind)
        {
            case EngineControlKind.RevokeUser:
                Remember(control.UserId, control.At);
                foreach (var connection in connections)
                {
                    // Everything still queued for it is dropped: a revoked user is sent nothing more.
                    if (connection.Info.User?.UserId == control.UserId)
                    {
                        connection.RequestClose(CloseCodes.Revoked, flushQueued: false);
                        count++;
                    }
                }
                logger.UserRevoked(control.UserId, count);
                break;
            case EngineControlKind.UnsubscribeUser:
                foreach (var connection in connections)
                {
                    if (connection.Info.User?.UserId == control.UserId)
                    {
                        connection.PostUnsubscribeRevoked(control);
                        count++;
                    }
                }
                logger.UserUnsubscribed(control.UserId, control.Room!, count);
                break;
        }
    }

    /// <summary>Keeps a revocation this node learnt of (from a control or from the engine's store) until it is past its time.</summary>
    public void Remember(string userId, DateTimeOffset revokedAt)
    {
        var now = time.GetUtcNow();
        lock (_sync)
        {
            if (!_revoked.TryGetValue(userId, out var previous) || previous < revokedAt)
                _revoked[userId] = revokedAt;
            // Forget those past their time, at most once a minute.
            if (now - _purged < TimeSpan.FromMinutes(1))
                return;
            _purged = now;
            foreach (var (user, at) in _revoked)
            {
                if (at + EngineControl.RevocationKept <= now)
                    _revoked.Remove(user);
            }
        }
    }

    /// <summary>Whether a revocation this node knows of refuses <paramref name="user"/>'s token (issued before it, or without <c>iat</c>).</summary>
    public bool Refuses(WSUser user)
    {
        var now = time.GetUtcNow();
        lock (_sync)
        {
            return _revoked.TryGetValue(user.UserId, out var at) && at + EngineControl.RevocationKept > now
                && EngineControl.Refuses(at, user.IssuedAt);
        }
    }
}
