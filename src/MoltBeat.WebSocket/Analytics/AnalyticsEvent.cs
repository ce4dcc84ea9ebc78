namespace MoltBeat.WebSocket.Analytics;

/// <summary>The seed's fourteen analytics event names (its <c>AnalyticsEvent</c> enum), as wire strings.</summary>
public static class AnalyticsEvent
{
    /// <summary><c>agent:created</c></summary>
    public const string AgentCreated = "agent:created";

    /// <summary><c>agent:updated</c></summary>
    public const string AgentUpdated = "agent:updated";

    /// <summary><c>agent:deleted</c></summary>
    public const string AgentDeleted = "agent:deleted";

    /// <summary><c>agent:status_changed</c></summary>
    public const string AgentStatusChanged = "agent:status_changed";

    /// <summary><c>post:created</c></summary>
    public const string PostCreated = "post:created";

    /// <summary><c>post:updated</c></summary>
    public const string PostUpdated = "post:updated";

    /// <summary><c>post:liked</c></summary>
    public const string PostLiked = "post:liked";

    /// <summary><c>post:commented</c></summary>
    public const string PostCommented = "post:commented";

    /// <summary><c>metrics:updated</c></summary>
    public const string MetricsUpdated = "metrics:updated";

    /// <summary><c>trending:added</c></summary>
    public const string TrendingTopicAdded = "trending:added";

    /// <summary><c>alert:created</c></summary>
    public const string AlertCreated = "alert:created";

    /// <summary><c>alert:resolved</c></summary>
    public const string AlertResolved = "alert:resolved";

    /// <summary><c>system:health</c></summary>
    public const string SystemHealthUpdate = "system:health";

    /// <summary><c>system:maintenance_start</c></summary>
    public const string SystemMaintenanceStart = "system:maintenance_start";

    /// <summary>All fourteen names.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        AgentCreated, AgentUpdated, AgentDeleted, AgentStatusChanged,
        PostCreated, PostUpdated, PostLiked, PostCommented,
        MetricsUpdated, TrendingTopicAdded, AlertCreated, AlertResolved,
        SystemHealthUpdate, SystemMaintenanceStart,
    ];
}
