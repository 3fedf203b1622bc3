using SiteRecovery.Connections;

namespace SiteRecovery.Tests.Connections;

/// <summary>The one table every hop matches replies to requests with.</summary>
public sealed class PendingRepliesTests
{
    [Fact]
    public async Task A_reply_reaches_its_waiter_and_only_its_waiter()
    {
        var table = new PendingReplies<string>();
        using var a = table.Expect("a");
        using var b = table.Expect("b");
        Assert.True(table.Complete("b", "for b"));
        Assert.Equal("for b", await b.Reply.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(a.Reply.IsCompleted);
        Assert.False(table.Complete("b", "again"));
        Assert.False(table.Complete("unknown", "x"));
    }

    [Fact]
    public void A_waiter_that_gave_up_is_gone_and_a_late_reply_is_dropped()
    {
        var table = new PendingReplies<string>();
        using (table.Expect("r1")) Assert.Equal(1, table.Count);
        Assert.Equal(0, table.Count);
        Assert.False(table.Complete("r1", "late"));
        // The id may be asked again once its first waiter is gone; twice at once is a bug in the asker.
        using var again = table.Expect("r1");
        Assert.Throws<InvalidOperationException>(() => table.Expect("r1"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task What_follows_a_reply_runs_on_the_receiving_thread_only_when_asked(bool onReceiver)
    {
        var table = new PendingReplies<string>(completeOnReceiverThread: onReceiver);
        using var waiter = table.Expect("r");
        var continuation = waiter.Reply.ContinueWith(_ => Environment.CurrentManagedThreadId, TaskContinuationOptions.ExecuteSynchronously);
        var receiver = new Thread(() => table.Complete("r", "x"));
        receiver.Start();
        receiver.Join();
        var ranOn = await continuation.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(onReceiver, ranOn == receiver.ManagedThreadId);
    }
}
