module runnerwizard/gotls

go 1.20
