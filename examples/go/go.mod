module shmkit.example/go

go 1.19
