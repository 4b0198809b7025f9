namespace PaliGemma.Pipeline.Data.Tests;

/// <summary>
/// Scenarios over one provider's database, migrated and emptied before each test; subclasses run them against every
/// provider. A missing service is reported by the scenario itself (skip or failure with context), not as a fixture crash.
/// </summary>
public abstract class MigratedStoreScenarios : IAsyncLifetime
{
    private bool _ready;

    protected MigratedStoreScenarios(IStoreTarget target)
    {
        Target = target;
    }

    protected IStoreTarget Target { get; }

    /// <summary>The clock the store under test reads.</summary>
    protected ManualTime Time { get; } = new();

    protected CancellationToken Ct { get; } = CancellationToken.None;

    /// <summary>The store over the migrated, emptied database; skips or fails first when the service is missing.</summary>
    protected ResultStore Store
    {
        get
        {
            Target.SkipOrThrowIfUnavailable();
            Assert.True(_ready, "InitializeAsync did not prepare the database.");
            return Stores.Create(Target.Provider, Target.ConnectionString, Time);
        }
    }

    public async Task InitializeAsync()
    {
        try
        {
            Target.SkipOrThrowIfUnavailable();
        }
        catch (Exception)
        {
            return;
        }

        await Stores.Create(Target.Provider, Target.ConnectionString).MigrateAsync(Ct);
        await Stores.ResetAsync(Target.Provider, Target.ConnectionString, Ct);
        _ready = true;
    }

    public Task DisposeAsync() => Task.CompletedTask;
}
