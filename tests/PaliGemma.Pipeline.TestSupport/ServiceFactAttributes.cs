namespace PaliGemma.Pipeline.TestSupport;

/// <summary>A fact that needs an S3-compatible server; skipped with a reason outside CI when none can be had.</summary>
public sealed class S3FactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> from <see cref="S3ServerFixture.UnavailableReason"/>.</summary>
    public S3FactAttribute() => Skip = S3ServerFixture.UnavailableReason;
}

/// <summary>A fact that needs RabbitMQ; skipped with a reason outside CI when none can be had.</summary>
public sealed class RabbitMqFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> from <see cref="RabbitMqFixture.UnavailableReason"/>.</summary>
    public RabbitMqFactAttribute() => Skip = RabbitMqFixture.UnavailableReason;
}
