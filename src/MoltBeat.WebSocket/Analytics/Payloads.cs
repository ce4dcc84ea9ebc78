namespace MoltBeat.WebSocket.Analytics;

/// <summary>An agent (created, updated, deleted). <c>Timestamp</c> is ms since the Unix epoch, as the seed's <c>Date.now()</c>.</summary>
public sealed record AgentPayload(string Id, string Name, string Status, long Timestamp);

/// <summary>An agent's status change.</summary>
public sealed record AgentStatusChangedPayload(string Id, string Status, string? PreviousStatus, long Timestamp);

/// <summary>A post (created, updated).</summary>
public sealed record PostPayload(string Id, string AgentId, string? Title, long Timestamp);

/// <summary>A like on a post, with the new total.</summary>
public sealed record PostLikedPayload(string Id, string AgentId, int LikeCount, long Timestamp);

/// <summary>A comment on a post, with the new total.</summary>
public sealed record PostCommentedPayload(string Id, string AgentId, string CommentId, int CommentCount, long Timestamp);

/// <summary>A snapshot of named metrics.</summary>
public sealed record MetricsPayload(IReadOnlyDictionary<string, double> Metrics, long Timestamp);

/// <summary>A topic that started trending.</summary>
public sealed record TrendingTopicPayload(string Topic, double Score, long Timestamp);

/// <summary>An alert; <c>Severity</c> <c>critical</c> also goes to <c>alerts:critical</c>.</summary>
public sealed record AlertPayload(string Id, string Severity, string Message, long Timestamp);

/// <summary>One service's state in a health report.</summary>
public sealed record ServiceStatus(string Name, string Status);

/// <summary>The system's health.</summary>
public sealed record SystemHealthPayload(string Status, IReadOnlyList<ServiceStatus> Services, long Timestamp);

/// <summary>An announced maintenance window.</summary>
public sealed record SystemMaintenancePayload(string Message, long Timestamp, long? StartsAt = null);
