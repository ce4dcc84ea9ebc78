namespace MoltBeat.WebSocket.Protocol;

/// <summary>One message from a client, as parsed from its JSON text frame.</summary>
/// <param name="Type">The <c>type</c> field.</param>
/// <param name="Id">The correlation <c>id</c>, echoed on the reply; null when absent.</param>
/// <param name="Room">The <c>room</c> field of <c>subscribe</c>/<c>unsubscribe</c>.</param>
/// <param name="Since">The <c>since</c> position of a recovering <c>subscribe</c>.</param>
/// <param name="Token">The <c>token</c> of an <c>auth</c> message.</param>
/// <param name="Last">The <c>last</c> of a <c>subscribe</c> (revision 1.1), 0 to <see cref="ProtocolLimits.MaxLast"/>; null when absent.</param>
/// <param name="MaxRate">The <c>maxRate</c> of a <c>subscribe</c> (revision 1.1), above 0 up to <see cref="ProtocolLimits.MaxRate"/>; null when absent.</param>
/// <param name="Occupancy">The <c>occupancy</c> of a <c>subscribe</c> (revision 1.1); null when absent.</param>
internal sealed record ClientRequest(string Type, long? Id, string? Room, StreamPosition? Since, string? Token, int? Last = null, double? MaxRate = null, bool? Occupancy = null);
