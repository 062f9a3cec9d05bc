module runnerwizard/gotls

go 1.22
