using MoltBeat.WebSocket.Auth;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// Revocation on one connection (protocol 1.1): the check of a token against the revocations, and an operator's
/// removal of subscriptions, which arrives from the engine's thread rather than from this connection's client.
/// </summary>
internal sealed partial class ClientConnection
{
    // Who may touch _subscriptions. They belong to whoever handles this connection's requests: the receive
    // loop holds this gate while it handles one message (HandleMessageAsync, awaits included, so a subscribe that waits
    // for the engine keeps it until it has attached). A control from an operator arrives on the engine's delivery
    // thread, which must never wait for one connection: it posts its work here (PostUnsubscribeRevoked), which takes
    // the gate asynchronously and so runs between two requests of this connection, never inside one. A subscribe in
    // flight when the control came thus completes first and is then removed; one that arrives later is a new request.
    // Cleanup takes the gate too, and after it nothing touches the dictionary again.
    // Not disposed: a SemaphoreSlim whose AvailableWaitHandle is never read holds nothing to release.
    private readonly SemaphoreSlim _requestGate = new(1, 1);
    private bool _cleanedUp; // under _requestGate

    /// <summary>
    /// Whether <paramref name="user"/>'s token is refused by a revocation: one this node knows of, or one kept by the
    /// engine (a node that started after it, or missed its message). When the engine cannot be read (Redis down), only
    /// the known ones are checked, and the connection is let in: a revocation cannot be made meanwhile either.
    /// </summary>
    private async ValueTask<bool> IsRevokedAsync(WSUser user)
    {
        var revocations = _services.Hub.Revocations;
        if (revocations.Refuses(user))
            return true;
        DateTimeOffset? kept;
        try
        {
            kept = await _services.Engine.GetRevocationAsync(user.UserId, _aborted.Token).ConfigureAwait(false);
        }
        catch (EngineUnavailableException ex)
        {
            _services.Logger.RevocationCheckFailed(ex, Id);
            return false;
        }
        if (kept is not { } revokedAt)
            return false;
        revocations.Remember(user.UserId, revokedAt);
        return EngineControl.Refuses(revokedAt, user.IssuedAt);
    }

    /// <summary>
    /// Removes this connection's subscriptions that <paramref name="control"/> covers (its room and the rooms below it),
    /// each with <c>unsubscribed</c> and the reason <c>revoked</c>, between two of its requests (see <see cref="_requestGate"/>).
    /// Returns at once; called from the engine's delivery thread.
    /// </summary>
    public void PostUnsubscribeRevoked(EngineControl control) => _ = UnsubscribeRevokedAsync(control);

    private async Task UnsubscribeRevokedAsync(EngineControl control)
    {
        await _requestGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_cleanedUp && !IsClosing)
                RemoveSubscriptions(control.Covers, UnsubscribeReasons.Revoked);
        }
        catch (Exception ex)
        {
            _services.Logger.HandlerFailed(ex, Id, "unsubscribe (operator)");
        }
        finally
        {
            _requestGate.Release();
        }
    }
}
