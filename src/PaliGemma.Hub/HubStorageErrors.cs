namespace PaliGemma.Hub;

/// <summary>Write failures in the Hub cache, named as the user can act on them (disk full, read-only, permission).</summary>
internal static class HubStorageErrors
{
    /// <summary>Maps a write failure to a message that says disk full or permission denied when it is.</summary>
    internal static HubStorageException StorageError(Exception ex, string path)
    {
        var what = ex switch
        {
            UnauthorizedAccessException => $"Permission denied writing {path}; make the Hugging Face cache writable or point HF_HUB_CACHE (or HF_HOME) at a folder you can write",
            IOException when IsDiskFull(ex) => $"Disk full writing {path}; free space or point HF_HUB_CACHE (or HF_HOME) at a bigger volume",
            IOException when IsReadOnlyFileSystem(ex) => $"Read-only file system at {path}; point HF_HUB_CACHE (or HF_HOME) at a writable folder",
            _ => $"Cannot write {path}: {ex.Message}",
        };
        return new HubStorageException(what + ".", ex);
    }

    /// <summary>ENOSPC/EDQUOT on Unix; ERROR_DISK_FULL/ERROR_HANDLE_DISK_FULL on Windows.</summary>
    internal static bool IsDiskFull(Exception ex)
    {
        var code = ex.HResult & 0xFFFF;
        return OperatingSystem.IsWindows() ? code is 0x70 or 0x27 : code is 28 or 122;
    }

    /// <summary>EROFS on Unix.</summary>
    internal static bool IsReadOnlyFileSystem(Exception ex) => !OperatingSystem.IsWindows() && (ex.HResult & 0xFFFF) == 30;
}
