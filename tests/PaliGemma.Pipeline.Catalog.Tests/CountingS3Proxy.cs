using System.Reflection;
using Amazon.S3;

namespace PaliGemma.Pipeline.Catalog.Tests;

/// <summary>Forwards every IAmazonS3 call to a real client and counts ListObjectsV2 requests, to observe paging.</summary>
public class CountingS3Proxy : DispatchProxy
{
    private IAmazonS3 _inner = null!;
    private int _listCalls;

    public int ListCalls => Volatile.Read(ref _listCalls);

    public static (IAmazonS3 Client, CountingS3Proxy Counter) Wrap(IAmazonS3 inner)
    {
        var client = Create<IAmazonS3, CountingS3Proxy>();
        var counter = (CountingS3Proxy)(object)client;
        counter._inner = inner;
        return (client, counter);
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (targetMethod.Name == nameof(IAmazonS3.ListObjectsV2Async))
        {
            Interlocked.Increment(ref _listCalls);
        }

        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }
}
