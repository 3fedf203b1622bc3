using Akka.Actor;
using Akka.Event;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;

namespace SiteRecovery.Actors.ReadModels;

/// <summary>
/// The node's one way to get the SQL read journal. Its constructor asks the write journal whether it is initialized and
/// gives up after a fixed 5 s; on a loaded 2-core machine the write journal (SQLite, a first open) was seen to take
/// longer, the read model's actor failed to start and the node exited. A failed creation is not cached by
/// PersistenceQuery, so it is simply tried again, for up to <see cref="StartupBudget"/>.
/// </summary>
public static class ReadJournals
{
    public static readonly TimeSpan StartupBudget = TimeSpan.FromSeconds(60);

    public static SqlReadJournal Sql(ActorSystem system)
    {
        var deadline = DateTime.UtcNow + StartupBudget;
        while (true)
        {
            try { return PersistenceQuery.Get(system).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier); }
            catch (AggregateException e) when (e.InnerException is AskTimeoutException && DateTime.UtcNow < deadline)
            {
                system.Log.Warning("read journal: the write journal is not initialized yet ({0}); trying again", e.InnerException.Message);
            }
        }
    }
}
