module leakaudit.test/goapp

go 1.19
