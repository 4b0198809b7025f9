namespace PaliGemma.Hub;

/// <summary>Base of every Hub and cache error; the message says what happened and what to do.</summary>
public class HubException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HubException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The repo does not exist, or is private and the token cannot see it (X-Error-Code RepoNotFound, or 401).</summary>
public sealed class HubRepoNotFoundException(string message) : HubException(message);

/// <summary>The repo is gated and the request has no token, or a token that has not been granted access.</summary>
public sealed class HubGatedRepoException(string message) : HubException(message);

/// <summary>The branch, tag or commit does not exist in the repo (X-Error-Code RevisionNotFound).</summary>
public sealed class HubRevisionNotFoundException(string message) : HubException(message);

/// <summary>The file does not exist at that revision (X-Error-Code EntryNotFound).</summary>
public sealed class HubEntryNotFoundException(string message) : HubException(message)
{
    /// <summary>X-Repo-Commit of the answer, when the Hub sent it (used for the .no_exist marker).</summary>
    public string? Commit { get; init; }
}

/// <summary>The Hub could not be reached (DNS, connection, timeout) or kept failing after every retry.</summary>
public sealed class HubUnavailableException(string message, Exception? inner = null) : HubException(message, inner);

/// <summary>Downloaded bytes did not match the file's sha256 or git blob id; the bytes were deleted.</summary>
public sealed class HubIntegrityException(string message) : HubException(message);

/// <summary>The cache could not be written: disk full, permission denied, read-only file system.</summary>
public sealed class HubStorageException(string message, Exception? inner = null) : HubException(message, inner);

/// <summary>A repo id was asked for that the cache does not hold (offline, or the Hub unreachable).</summary>
public sealed class HubCacheMissException(string message, Exception? inner = null) : HubException(message, inner);
