//! Real nuget.exe clients (filled in below).
