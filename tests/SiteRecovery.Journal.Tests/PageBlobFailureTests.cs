using System.Net.Sockets;
using Azure;
using SiteRecovery.Azure.Replicas;
using Xunit;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// How a failed page-blob operation is named: a service that did not answer at all is <c>Unavailable</c> (the disk
/// resumes by itself once it answers again), whatever shape the failure took on its way up the SDK; a service that
/// answered is named by its answer.
/// </summary>
public sealed class PageBlobFailureTests
{
    static PageBlobFailureReason Reason(Exception e) => PageBlobReplicaException.From("d1", "d1.vhd", "upload", e).Reason;

    [Fact]
    public void No_answer_at_all_is_unavailable_in_every_shape_it_arrives_in()
    {
        // The SDK's transport failure (Azure.Core: status 0, no error code), e.g. a connection refused or reset mid-request.
        Assert.Equal(PageBlobFailureReason.Unavailable, Reason(new RequestFailedException(0, "Connection refused (127.0.0.1:10000)")));
        Assert.Equal(PageBlobFailureReason.Unavailable, Reason(new SocketException((int)SocketError.ConnectionRefused)));
        Assert.Equal(PageBlobFailureReason.Unavailable, Reason(new HttpRequestException("Connection reset by peer")));
        Assert.Equal(PageBlobFailureReason.Unavailable, Reason(new AggregateException(new HttpRequestException("refused"))));
        Assert.Equal(PageBlobFailureReason.Unavailable, Reason(new OperationCanceledException("the network timeout passed")));
        Assert.Equal(PageBlobFailureReason.Unavailable, Reason(new RequestFailedException(503, "busy", "ServerBusy", null)));
    }

    [Fact]
    public void An_answer_names_the_failure()
    {
        Assert.Equal(PageBlobFailureReason.ContainerNotFound, Reason(new RequestFailedException(404, "gone", "ContainerNotFound", null)));
        Assert.Equal(PageBlobFailureReason.AuthenticationFailed, Reason(new RequestFailedException(403, "no", "AuthenticationFailed", null)));
        Assert.Equal(PageBlobFailureReason.LeaseLost, Reason(new RequestFailedException(412, "lease", "LeaseIdMismatchWithBlobOperation", null)));
        Assert.Equal(PageBlobFailureReason.Refused, Reason(new RequestFailedException(400, "bad", "InvalidHeaderValue", null)));
    }
}
